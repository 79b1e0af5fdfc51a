//! One client session over several nodes (streaming and logical replication modes;
//! spec/extended-protocol.md, spec/routing.md): every client message is routed to its nodes and
//! forwarded at once; each forwarded request joins a queue with the nodes it went to, and the
//! replies are matched to the queue in order — the chosen node's reply goes to the client, the
//! other nodes' replies are read and checked (same outcome, transaction states merged into the
//! client's ReadyForQuery). Nothing waits on a node that owes nothing, so pipelines, Flush
//! without Sync and errors inside a pipeline cannot hang the session.
//!
//! Client messages are read while no ReadyForQuery is awaited (pgpool stops reading at a Sync
//! or a simple Query until it is answered) and, after an Execute of COPY FROM STDIN, once the
//! CopyInResponse arrived. Writes to each node are gathered and sent once per batch.

mod catalog;
mod client;
mod records;
mod replies;

pub use catalog::{RelCache, TempTables};

use std::collections::VecDeque;
use std::rc::Rc;
use std::sync::atomic::Ordering::{Relaxed, SeqCst};
use std::time::Duration;

use crate::child::{signals, Child};
use crate::config::Config;
use crate::logger::Severity;
use crate::pglog;
use crate::pool::BackendConn;
use crate::protocol::Conn;
use crate::router::{NodeSet, NodeView, Router, SessionRoute};

use records::{Awaits, Entry, Records};

use super::End;

/// The state of one session.
pub(super) struct Engine<'a> {
    child: &'a mut Child,
    client: &'a mut Conn,
    pool_idx: usize,
    be: Vec<Option<BackendConn>>,
    /// Nodes connected in this session.
    usable: NodeSet,
    primary: usize,
    /// The node the next write to the backends reaches last (a simple COMMIT's or ROLLBACK's
    /// main node), then back to node order.
    main_last: Option<usize>,
    /// The node whose BackendKeyData and ParameterStatus the client got.
    main: usize,
    router: Rc<Router>,
    route: SessionRoute,
    weights: Vec<f64>,
    delays: Vec<i64>,
    queue: VecDeque<Entry>,
    records: Records,
    /// Nodes that answered an extended request with an error: silent until Sync.
    skipping: NodeSet,
    /// Nodes that got extended-protocol messages since their last Sync.
    unsynced: NodeSet,
    /// Per node: bytes left of a DataRow/CopyData being streamed, and whether they go to the
    /// client.
    rem: Vec<(usize, bool)>,
    /// Client: bytes left of a CopyData being streamed, and the nodes that get them (the
    /// COPY's nodes when it began).
    c_rem: usize,
    c_rem_nodes: NodeSet,
    /// After an error: client messages are dropped until Sync.
    ignore_till_sync: bool,
    /// The client message first in its buffer waits for the replies to the messages before
    /// it (`must_wait`); the client is not read meanwhile.
    holding: bool,
    /// The routing of a held Parse, used when it is sent.
    held_parse: Option<(crate::router::Decision, bool)>,
    /// The last routing left a catalog question unanswered that waiting for the replies in
    /// flight would answer (`with_router`).
    catalog_wanted: bool,
    /// The Parse held first in the client's buffer waits for that: routed again, it goes
    /// where the answers send it, and is not held twice.
    waited_for_catalog: bool,
    /// An error was forwarded since the last Sync: later replies until its ReadyForQuery are
    /// swallowed (the client expects none).
    error_in_batch: bool,
    /// An Execute/Query of COPY FROM STDIN was sent: the client is not read until the
    /// CopyInResponse (or an error).
    copy_wait: bool,
    /// How long the nodes owing replies have been silent (the client's probe).
    silent: Duration,
    /// An Execute of PREPARE TRANSACTION / COMMIT PREPARED / ROLLBACK PREPARED completed: the
    /// transaction still open on the other nodes is committed once every node is synced.
    two_phase_done: bool,
    /// COPY IN in progress: client copy messages go to these nodes.
    copy_nodes: NodeSet,
    /// Bytes for the client, written once per step.
    out: Vec<u8>,
    /// The body of the backend message being attended to (reused).
    frame: Vec<u8>,
    /// The client message being handled (reused).
    msg: Vec<u8>,
    /// Bytes for each node, written once per batch of client messages.
    wbuf: Vec<Vec<u8>>,
    temp: TempTables,
    database: String,
    logging: crate::session::logging::Logging,
    client_idle_limit: i64,
    session_cfg: Option<Config>,
    active: bool,
    /// A simple-query BEGIN sent to the primary only: what the other nodes get before their
    /// first statement of the transaction, and the nodes that have not had it yet.
    lazy_begin: Option<(Vec<u8>, NodeSet)>,
}

/// Run a streaming/logical-mode session on pool slot `pool_idx`.
pub fn run(
    child: &mut Child,
    client: &mut Conn,
    pool_idx: usize,
    fresh: bool,
    title_prefix: &str,
) -> End {
    let backends = std::mem::take(&mut child.pool.slots[pool_idx].backends);
    let mut usable = NodeSet::EMPTY;
    for (n, b) in backends.iter().enumerate() {
        if b.is_some() {
            usable.insert(n);
        }
    }
    let Some(first) = usable.first() else {
        child.pool.slots[pool_idx].backends = backends;
        return End::BackendGone;
    };
    let main = child
        .snapshot
        .main_node
        .filter(|&m| usable.contains(m))
        .unwrap_or(first);
    let primary = child
        .snapshot
        .primary_node
        .filter(|&p| usable.contains(p))
        .unwrap_or(main);
    let router = child.router();
    let nb = backends.len();
    let weights: Vec<f64> = (0..nb).map(|n| child.sh.backend(n).weight()).collect();
    let delays: Vec<i64> = (0..nb)
        .map(|n| child.sh.backend(n).standby_delay.load(Relaxed))
        .collect();
    let (user, database, application_name) = match &child.pool.slots[pool_idx].startup {
        Some(sp) => (
            sp.user.clone(),
            sp.database.clone(),
            sp.application_name.clone(),
        ),
        None => Default::default(),
    };
    let lb = {
        let view = NodeView {
            usable,
            primary,
            weights: &weights,
            delays: &delays,
        };
        router.select_load_balancing_node(
            &view,
            &user,
            &database,
            &application_name,
            &mut child.rng,
        )
    };
    let lb = if usable.contains(lb) { lb } else { primary };
    for n in usable.iter() {
        child
            .sh
            .connection(child.slot, pool_idx, n)
            .load_balancing_node
            .store(lb as i32, Relaxed);
    }
    // temporary-table answers of the same pooled connections, from their previous client
    let conn_id = (
        child.pool.slots[pool_idx].create_time,
        backends[main].as_ref().map_or(0, |b| b.pid),
    );
    let temp = match child.slot_temp.get_mut(pool_idx).and_then(Option::take) {
        Some((id, mem)) if id == conn_id => mem,
        _ => TempTables::default(),
    };
    let logging = crate::session::logging::Logging::start(&child.settings);
    let client_idle_limit = child.settings.client_idle_limit;
    let mut e = Engine {
        child,
        client,
        pool_idx,
        be: backends,
        usable,
        primary,
        main_last: None,
        main,
        router,
        route: SessionRoute {
            lb_node: lb,
            ..SessionRoute::new(&user, &database, &application_name)
        },
        weights,
        delays,
        queue: VecDeque::new(),
        records: Records::default(),
        skipping: NodeSet::EMPTY,
        unsynced: NodeSet::EMPTY,
        rem: vec![(0, false); nb],
        c_rem: 0,
        c_rem_nodes: NodeSet::EMPTY,
        ignore_till_sync: false,
        holding: false,
        held_parse: None,
        catalog_wanted: false,
        waited_for_catalog: false,
        error_in_batch: false,
        copy_wait: false,
        silent: Duration::ZERO,
        two_phase_done: false,
        copy_nodes: NodeSet::EMPTY,
        out: Vec::with_capacity(8192),
        frame: Vec::with_capacity(256),
        msg: Vec::with_capacity(1024),
        wbuf: vec![Vec::new(); nb],
        temp,
        database: database.clone(),
        logging,
        client_idle_limit,
        session_cfg: None,
        active: false,
        lazy_begin: None,
    };
    if fresh {
        // each new connection's first ReadyForQuery, merged into one for the client
        e.queue
            .push_back(Entry::new(Awaits::Ready, usable, Some(main)));
    }
    let mut end = e.run(title_prefix);
    // What the reset procedure must still drain on each node.
    if e.rem.iter().any(|r| r.0 > 0) && end == End::Terminate {
        end = End::ClientGone;
    }
    for n in e.usable.iter() {
        let owed = e
            .queue
            .iter()
            .filter(|q| q.awaits == Awaits::Ready && q.nodes.contains(n) && !q.done.contains(n))
            .count();
        if let Some(b) = e.be[n].as_mut() {
            b.pending = owed as u32;
            b.unsynced = e.unsynced.contains(n);
        }
    }
    let backends = std::mem::take(&mut e.be);
    let temp = std::mem::take(&mut e.temp).for_next_session();
    let logging = e.logging.statement_logging();
    let child = e.child;
    child.statement_logging = logging;
    if let Some(m) = child.slot_temp.get_mut(pool_idx) {
        *m = Some((conn_id, temp));
    }
    child.pool.slots[pool_idx].backends = backends;
    end
}

impl Engine<'_> {
    fn run(&mut self, title_prefix: &str) -> End {
        let info = self.child.sh.process(self.child.slot);
        let idle_title = format!("{title_prefix} idle");
        let in_tx_title = format!("{title_prefix} idle in transaction");
        let mut shown_tx = self.be[self.main].as_ref().map_or(b'I', |b| b.tx);
        let mut idle_ticks: i64 = 0;
        loop {
            if signals::FAST_EXIT.load(SeqCst) {
                self.flush_client();
                return super::shutting_down(self.client);
            }
            super::close_idle_if_asked(self.child);
            let need = match self.pump() {
                Ok(n) => n,
                Err(end) => {
                    self.flush_client();
                    return end;
                }
            };
            if self.client_readable() && !self.client.buffered().is_empty() {
                let handled = self.handle_client();
                // what the statements' logs have for the client comes before their replies
                self.take_notices();
                match handled {
                    Err(end) => {
                        self.flush_client();
                        return end;
                    }
                    Ok(true) => {
                        if let Err(end) = self.flush_backends() {
                            return end;
                        }
                        continue;
                    }
                    Ok(false) => {}
                }
            }
            if self.flush_backends().is_err() {
                return End::BackendGone;
            }
            // Only ReadyForQuery is still to come for a Sync: keep the replies for one write.
            let sync_tail = self
                .queue
                .front()
                .is_some_and(|q| q.awaits == Awaits::Ready && !q.simple && q.fwd.is_some())
                && self.queue.len() == 1
                && self.out.len() < 65536;
            if !sync_tail && !self.flush_client() {
                return End::ClientGone;
            }
            let tx = self.be[self.primary].as_ref().map_or(b'I', |b| b.tx);
            // idle after the last ReadyForQuery (not inside an extended batch awaiting Sync)
            if self.queue.is_empty() && self.unsynced.is_empty() {
                super::show_idle(info, tx);
                if tx != shown_tx {
                    shown_tx = tx;
                    crate::process_title::set(if tx == b'I' {
                        &idle_title
                    } else {
                        &in_tx_title
                    });
                }
            }
            if self.active {
                idle_ticks = 0;
                self.active = false;
            }
            if self.child.apply_pending_reload() {
                self.reloaded();
            }
            // Wait for what is needed next.
            let read_client = self.client_readable();
            let plain = |n: usize| self.be[n].as_ref().is_some_and(|b| !b.conn.is_tls());
            if let (Some(n), false, true) = (need, read_client, self.client_idle_limit <= 0) {
                if plain(n) {
                    // only that node can make progress: read it without a poll(2); its
                    // socket's receive timeout ends the read for the client's probe
                    if let Err(end) = self.fill_node(n) {
                        return end;
                    }
                    if self.silent >= super::PROBE_INTERVAL {
                        if let Err(end) = self.probe_client() {
                            return end;
                        }
                    }
                    continue;
                }
            }
            // the node the head waits for, or (idle) every node for unsolicited messages;
            // then the client — in a fixed array, no allocation per wait
            let mut watch = [0usize; 129];
            let mut fds = [libc::pollfd {
                fd: -1,
                events: libc::POLLIN,
                revents: 0,
            }; 129];
            let mut nw = 0;
            let candidates = match need {
                Some(n) => NodeSet::single(n),
                None if self.queue.is_empty() => self.usable,
                None => NodeSet::EMPTY,
            };
            for node in candidates.iter() {
                if let Some(b) = self.be[node].as_ref() {
                    watch[nw] = node;
                    fds[nw].fd = b.conn.fd();
                    nw += 1;
                }
            }
            let mut nfds = nw;
            if read_client {
                fds[nfds].fd = self.client.fd();
                nfds += 1;
            }
            let tick = if self.client_idle_limit > 0 {
                Some(Duration::from_secs(1))
            } else if !self.queue.is_empty() {
                Some(super::PROBE_INTERVAL)
            } else {
                None
            };
            let timeout = tick.map_or(-1, |t| t.as_millis() as libc::c_int);
            // SAFETY: `fds` holds `nfds` initialised entries whose descriptors stay open for
            // the whole call (owned by self); poll(2) writes only their revents.
            let n = unsafe { libc::poll(fds.as_mut_ptr(), nfds as libc::nfds_t, timeout) };
            if n < 0 {
                if std::io::Error::last_os_error().kind() == std::io::ErrorKind::Interrupted {
                    continue;
                }
                return End::ClientGone;
            }
            if n == 0 {
                if !self.queue.is_empty() {
                    // a query is running: the client waits, it is not idle
                    self.silent += tick.unwrap_or(super::PROBE_INTERVAL);
                    if self.silent >= super::PROBE_INTERVAL {
                        if let Err(end) = self.probe_client() {
                            return end;
                        }
                    }
                    continue;
                }
                idle_ticks += 1;
                self.child
                    .sh
                    .connection(self.child.slot, self.pool_idx, self.main)
                    .client_idle_duration
                    .store(idle_ticks as i32, Relaxed);
                if self.client_idle_limit > 0 && idle_ticks > self.client_idle_limit {
                    return super::idle_limit_reached(self.client, self.client_idle_limit);
                }
                continue;
            }
            for i in 0..nw {
                let node = watch[i];
                if fds[i].revents != 0 {
                    if let Err(end) = self.fill_node(node) {
                        return end;
                    }
                    if need.is_none() {
                        // nothing was asked of it: unsolicited messages
                        if let Err(end) = self.unsolicited(node) {
                            self.flush_client();
                            return end;
                        }
                    }
                }
            }
            if read_client && fds[nw].revents != 0 {
                match self.client.fill() {
                    Ok(0) => return super::client_vanished(self.client, Ok(0)),
                    Ok(_) => self.active = true,
                    Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                    Err(e) => return super::client_vanished(self.client, Err(e)),
                }
            }
        }
    }

    /// May client messages be read now?
    fn client_readable(&self) -> bool {
        if !self.copy_nodes.is_empty() {
            return true;
        }
        if self.holding && self.queue.iter().any(|q| q.awaits.is_extended()) {
            return false;
        }
        !self.copy_wait && !self.queue.iter().any(|q| q.awaits == Awaits::Ready)
    }

    /// Read more from node `n`; EOF or an error ends the session.
    /// The client has waited `PROBE_INTERVAL` in silence: probe it, with the nodes that still
    /// owe it replies to cancel should it be gone.
    fn probe_client(&mut self) -> Result<(), End> {
        self.silent = Duration::ZERO;
        if !self.flush_client() {
            return Err(End::ClientGone);
        }
        let mut owing = NodeSet::EMPTY;
        for q in &self.queue {
            owing = owing.union(NodeSet(q.nodes.0 & !q.done.0));
        }
        let busy: Vec<(usize, i32, i32)> = owing
            .iter()
            .filter_map(|n| self.be[n].as_ref().map(|b| (n, b.pid, b.key)))
            .collect();
        super::probe_client(self.child, self.client, &busy)
    }

    fn fill_node(&mut self, n: usize) -> Result<(), End> {
        let Some(b) = self.be[n].as_mut() else {
            return Err(End::BackendGone);
        };
        match b.conn.fill() {
            Ok(0) => {
                // whatever it said last (often its FATAL) goes to the client first
                if let Err(end) = self.unsolicited(n) {
                    self.flush_client();
                    return Err(end);
                }
                if self.be[n].is_none() {
                    return Ok(()); // a shutdown the session goes on without
                }
                self.flush_client();
                let awaited = self
                    .queue
                    .iter()
                    .any(|q| q.nodes.contains(n) && !q.done.contains(n));
                Err(super::backend_closed(self.client, n, awaited))
            }
            Ok(_) => {
                self.active = true;
                self.silent = Duration::ZERO;
                Ok(())
            }
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                // the receive timeout of a blocking read
                self.silent = super::PROBE_INTERVAL;
                Ok(())
            }
            Err(_) => {
                let partial = self.rem[n].0;
                let server_fatal = self.be[n]
                    .as_mut()
                    .is_some_and(|b| b.ended_with_fatal(partial));
                Err(super::backend_failed(self.child, n, server_fatal))
            }
        }
    }

    /// pgpool's messages queued for the client (`client_min_messages`), into its output,
    /// unless a forwarded message is half written there.
    fn take_notices(&mut self) {
        if notices_fit(&self.rem) {
            crate::logger::client::drain_into(&mut self.out);
        }
    }

    /// Write the gathered client bytes. False when the client is gone.
    fn flush_client(&mut self) -> bool {
        self.take_notices();
        if self.out.is_empty() {
            return true;
        }
        let ok = self.client.write_all(&self.out).is_ok();
        self.out.clear();
        ok
    }

    /// Write the gathered bytes of every node.
    fn flush_backends(&mut self) -> Result<(), End> {
        let all = NodeSet(
            u128::MAX
                .checked_shr(128 - self.wbuf.len() as u32)
                .unwrap_or(0),
        );
        for n in client::in_order(all, self.main_last.take()) {
            if self.wbuf[n].is_empty() {
                continue;
            }
            let Some(b) = self.be[n].as_mut() else {
                self.wbuf[n].clear();
                continue;
            };
            b.touched = true;
            if b.conn.write_all(&self.wbuf[n]).is_err() {
                pglog!(Severity::Log, "unable to forward message to backend {}", n);
                let server_fatal = b.ended_with_fatal(self.rem[n].0);
                if self.child.settings.failover_on_backend_error && !server_fatal {
                    crate::failover::request::notice_backend_error(n);
                }
                return Err(End::BackendGone);
            }
            self.wbuf[n].clear();
        }
        Ok(())
    }

    /// A reload reached this open session: the file's values apply here too.
    fn reloaded(&mut self) {
        if let Some(cfg) = self.session_cfg.take() {
            self.session_cfg = Some(cfg.reload().map(|(c, _)| c).unwrap_or(cfg));
        }
        let cfg = self.session_cfg.as_ref().unwrap_or(&self.child.cfg);
        self.logging.follow(cfg);
        self.client_idle_limit = cfg.get_int("client_idle_limit");
    }

    /// Routing parameters from `cfg` (after PGPOOL SET / RESET in this session).
    fn apply_routing_settings(&mut self, cfg: &Config) {
        self.router = Rc::new(Router::from_config(cfg));
    }

    /// TSTATE of node `n` (I when not connected).
    fn tx(&self, n: usize) -> u8 {
        self.be[n].as_ref().map_or(b'I', |b| b.tx)
    }

    /// The node view the router decides on, with fresh replication delays.
    fn refresh_delays(&mut self) {
        for (n, d) in self.delays.iter_mut().enumerate() {
            *d = self.child.sh.backend(n).standby_delay.load(Relaxed);
        }
    }
}

/// Whether pgpool's queued messages for the client (`client_min_messages`) wait and may go into
/// its output now: no forwarded message is half written there (`rem`: per node, the bytes of a
/// frame still to stream and whether they go to the client).
fn notices_fit(rem: &[(usize, bool)]) -> bool {
    crate::logger::client::pending() && rem.iter().all(|&(r, fwd)| r == 0 || !fwd)
}
