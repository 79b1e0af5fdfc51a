//! Client messages of a multi-node session (spec/extended-protocol.md §4, §8; routing.md §3):
//! each message is routed — a Query or Parse by the router, Bind/Describe/Execute/Close by the
//! statement or portal they name — written to its nodes' buffers and queued with those nodes.
//! pgpool's own answers (SHOW pool_*, an aborted transaction, an unknown statement in Bind,
//! Close of an unknown object) are queued as local replies so they reach the client in order.

use std::rc::Rc;

use crate::commands::{self, CommandContext};
use crate::logger::Severity;
use crate::pglog;
use crate::protocol::messages;
use crate::protocol::pgerror::PgError;
use crate::router::{Decision, LbOnWrite, NodeSet, NodeView};
use crate::session::stats;
use crate::shmem::ChildStatus;
use crate::sql::{self, DiscardKind, Kind};

use super::catalog::Lookup;
use super::records::{Awaits, Entry, Record, Stmt, Undo};
use super::{End, Engine};

/// What a routing call needs, borrowed from the session at once.
struct RouteCtx<'a, 'l> {
    router: &'a crate::router::Router,
    route: &'a mut crate::router::SessionRoute,
    look: &'a mut Lookup<'l>,
    view: NodeView<'a>,
    rng: &'a mut rand::rngs::StdRng,
}

/// Largest frame accepted from a client.
const MAX_FRAME: usize = 1 << 30;

impl Engine<'_> {
    /// Handle the whole client messages in the buffer while the client may be read. Ok(true)
    /// when anything was consumed.
    pub(super) fn handle_client(&mut self) -> Result<bool, End> {
        let mut progressed = false;
        while self.client_readable() {
            let buf = self.client.buffered();
            if buf.is_empty() {
                break;
            }
            if self.c_rem > 0 {
                let take = self.c_rem.min(buf.len());
                for n in self.c_rem_nodes.iter() {
                    self.wbuf[n].extend_from_slice(&buf[..take]);
                }
                self.client.consume(take);
                self.c_rem -= take;
                progressed = true;
                continue;
            }
            let h = match self.client.frame_at(0, MAX_FRAME) {
                Ok(Some(h)) => h,
                Ok(None) => break,
                Err(e) => return Err(super::super::protocol_violation(self.client, &e)),
            };
            if !super::super::valid_frontend_tag(h.tag) {
                return Err(unknown_message(self.client, h.tag));
            }
            if h.tag == b'd' && buf.len() < h.total {
                if let Some(log) = self.logging.client.as_mut() {
                    log.message(b'd', &[]);
                }
                // a large CopyData: stream it to the COPY's nodes — all of it, even when the
                // COPY fails meanwhile: a node that read its header waits for its last byte
                let len = buf.len();
                for n in self.copy_nodes.iter() {
                    self.wbuf[n].extend_from_slice(buf);
                }
                self.c_rem_nodes = self.copy_nodes;
                self.c_rem = h.total - len;
                self.client.consume(len);
                progressed = true;
                continue;
            }
            if buf.len() < h.total {
                break;
            }
            let mut msg = std::mem::take(&mut self.msg);
            msg.clear();
            msg.extend_from_slice(&buf[..h.total]);
            self.active = true;
            let r = self.dispatch(h.tag, &msg);
            self.msg = msg;
            r?;
            if self.holding {
                // it stays first in the client's buffer until the replies it waits for came
                break;
            }
            self.client.consume(h.total);
            progressed = true;
        }
        Ok(progressed)
    }

    fn dispatch(&mut self, tag: u8, msg: &[u8]) -> Result<(), End> {
        // a message held back once was logged then
        let again = std::mem::take(&mut self.holding);
        if let Some(log) = self.logging.client.as_mut().filter(|_| !again) {
            log.message(tag, &msg[5..]);
        }
        if !self.copy_nodes.is_empty() {
            match tag {
                b'd' | b'H' | b'S' => {
                    self.send(self.copy_nodes, msg);
                    return Ok(());
                }
                b'c' | b'f' => {
                    self.send(self.copy_nodes, msg);
                    self.copy_nodes = NodeSet::EMPTY;
                    return Ok(());
                }
                _ => {}
            }
        }
        if self.ignore_till_sync && !matches!(tag, b'S' | b'X') {
            self.held_parse = None;
            self.waited_for_catalog = false;
            return Ok(());
        }
        match tag {
            b'X' => {
                let _ = self.flush_backends();
                Err(End::Terminate)
            }
            b'Q' => self.simple_query(msg),
            b'P' => self.parse(msg),
            b'B' => self.bind(msg),
            b'D' => self.describe(msg),
            b'E' => self.execute(msg),
            b'C' => self.close(msg),
            b'S' => {
                // Every node of the group commits its part at Sync: not before the others'
                // messages are answered, so that an error among them aborts every part (see
                // `abort_others`), as PostgreSQL rolls back a whole failed group.
                if self.must_wait(self.unsynced) {
                    return Ok(());
                }
                self.ignore_till_sync = false;
                // Only nodes that got extended messages since their last Sync need one: the
                // others are idle and their transaction state is known (pgpool syncs every
                // node; the client sees the same ReadyForQuery either way).
                let nodes = if self.unsynced.is_empty() {
                    NodeSet::single(self.primary)
                } else {
                    self.unsynced
                };
                self.send_raw(nodes, msg);
                self.unsynced = NodeSet::EMPTY;
                self.queue
                    .push_back(Entry::new(Awaits::Ready, nodes, Some(self.primary)));
                Ok(())
            }
            b'H' => {
                // only nodes with extended messages since their last Sync have output to
                // flush (pgpool writes to every node); a node the session never used stays
                // untouched
                self.send_raw(self.unsynced, msg);
                Ok(())
            }
            b'F' => {
                let p = NodeSet::single(self.primary);
                self.send(p, msg);
                let mut e = Entry::new(Awaits::Ready, p, Some(self.primary));
                e.simple = true;
                e.tx_before = self.tx(self.primary);
                self.queue.push_back(e);
                Ok(())
            }
            // copy messages outside COPY: the primary reports the error
            _ => {
                self.send(NodeSet::single(self.primary), msg);
                Ok(())
            }
        }
    }

    /// Append `msg` to the write buffer of every node of `nodes` (a node still owing the
    /// transaction's deferred BEGIN gets it first).
    fn send(&mut self, nodes: NodeSet, msg: &[u8]) {
        self.begin_where_needed(nodes);
        self.send_raw(nodes, msg);
    }

    /// `send` without the deferred BEGIN: Sync and Flush, which start nothing.
    fn send_raw(&mut self, nodes: NodeSet, msg: &[u8]) {
        for n in nodes.iter() {
            if self.be[n].is_some() {
                self.wbuf[n].extend_from_slice(msg);
            }
        }
    }

    /// A simple-query BEGIN goes to the nodes of `now` only (the primary, and any node in an
    /// implicit transaction); each other node gets it just before the first statement of the
    /// transaction sent there (its reply swallowed), so a transaction that never reads from a
    /// standby costs the standby nothing. The snapshot is taken at the first statement either
    /// way.
    fn defer_begin(&mut self, msg: &[u8], rewrite: bool, now: NodeSet) {
        let others = NodeSet(self.usable.0 & !now.0);
        if others.is_empty() {
            return;
        }
        let q = if rewrite {
            let mut q = Vec::with_capacity(12);
            messages::query(&mut q, "BEGIN");
            q
        } else {
            msg.to_vec()
        };
        self.lazy_begin = Some((q, others));
    }

    /// Before `nodes` get a message: the ones still owing the deferred BEGIN get it now.
    fn begin_where_needed(&mut self, nodes: NodeSet) {
        let Some((q, pending)) = self.lazy_begin.as_mut() else {
            return;
        };
        let due = NodeSet(nodes.0 & pending.0);
        if due.is_empty() {
            return;
        }
        pending.0 &= !due.0;
        for n in due.iter() {
            if let Some(b) = self.be[n].as_ref() {
                self.wbuf[n].extend_from_slice(q);
                // a Query message: tag, length, text, NUL
                let text = q.get(5..q.len().saturating_sub(1)).unwrap_or_default();
                stats::count_statement(self.child.sh.backend(n), text);
                if self.logging.per_node {
                    pglog!(
                        Severity::Log,
                        "DB node id: {} backend pid: {} statement: {}",
                        n,
                        b.pid,
                        String::from_utf8_lossy(text)
                    );
                }
                if self.logging.notice_per_node {
                    crate::session::per_node_notice(
                        &mut self.out,
                        n,
                        &String::from_utf8_lossy(text),
                    );
                }
            }
        }
        let mut e = Entry::new(Awaits::Ready, due, None);
        e.simple = true;
        self.queue.push_back(e);
    }

    /// Append a Flush for every node of `nodes`: they send the replies they hold back.
    fn flush_nodes(&mut self, nodes: NodeSet) {
        let mut flush = Vec::with_capacity(5);
        messages::flush(&mut flush);
        self.send_raw(nodes, &flush);
    }

    /// Whether an extended message for `nodes` must wait for the replies to the messages
    /// before it in its Sync group; then those nodes are flushed and the message is held
    /// (`holding`). PostgreSQL carries out nothing after an error up to Sync, but a node that
    /// did not get every earlier message still unanswered would carry this one out even when
    /// one of those failed elsewhere: a write the client is told never happened. Held, it is
    /// sent once they are answered, or dropped with the rest of the group after an error.
    fn must_wait(&mut self, nodes: NodeSet) -> bool {
        let elsewhere = self
            .queue
            .iter()
            .filter(|q| q.awaits.is_extended())
            .any(|q| nodes.0 & !q.nodes.0 != 0);
        if elsewhere {
            self.hold();
        }
        elsewhere
    }

    /// Keep the client message first in its buffer until the extended messages in flight are
    /// answered (`holding`); the nodes they went to are flushed so that the replies come.
    fn hold(&mut self) {
        let pending = self
            .queue
            .iter()
            .filter(|q| q.awaits.is_extended())
            .fold(NodeSet::EMPTY, |s, q| s.union(q.nodes));
        self.flush_nodes(pending);
        self.holding = true;
    }

    /// pgpool's line for a string its parser refuses (it is then sent to the primary, whose
    /// error the client gets).
    fn log_unparsable(&self, a: &sql::Analysis, text: &str) {
        if a.unparsable {
            pglog!(
                Severity::Log,
                "Unable to parse the query: \"{}\" from client {}",
                text,
                self.child.client_label
            );
        }
    }

    /// An error reached the client (`ptx`: the primary's transaction state): the routing flags
    /// of routing.md §6.1, and the pending temporary-table records are rolled back.
    pub(super) fn failed(&mut self, ptx: u8) {
        self.router.after_error(&mut self.route, ptx);
        self.temp.traced.end(false);
    }

    /// Answer the client message with an error made by pgpool and skip to Sync, as
    /// PostgreSQL does. `undo`: what the refusal changed in the records, should an earlier
    /// message of the group fail and PostgreSQL never see this one.
    fn local_error(&mut self, code: &str, message: &str, undo: Option<Undo>) {
        let mut out = Vec::with_capacity(64 + message.len());
        messages::error_response(&mut out, "ERROR", code, message, None, None);
        let mut e = Entry::local(out);
        e.undo = undo;
        self.queue.push_back(e);
        self.ignore_till_sync = true;
        // inside a transaction block, the error aborts it as PostgreSQL's would
        let ptx = self.tx(self.primary);
        self.failed(ptx);
        self.abort_others(NodeSet::EMPTY);
        // PostgreSQL sends what it owes the client when it reports an error; the client's
        // own Flush is dropped from here to its Sync, so the nodes are flushed now
        self.flush_nodes(self.unsynced);
    }

    /// PostgreSQL's error for the unnamed statement (`S`) or portal (`P`) the client does not
    /// have. pgpool answers it: a simple query drops both, but only on the nodes it goes to, so
    /// another node may still hold an old one that would answer in its place.
    fn no_unnamed(&mut self, kind: u8) {
        if kind == b'S' {
            self.local_error("26000", "unnamed prepared statement does not exist", None);
        } else {
            self.local_error("34000", "portal \"\" does not exist", None);
        }
    }

    /// An error ended the client's group (or its transaction block) on the nodes of `failed`,
    /// or pgpool refused a message (`failed` empty). PostgreSQL would roll back everything the
    /// group did and abort the transaction block, but the other nodes that took part know
    /// nothing of it, and would commit their part at Sync or at COMMIT. Each gets an Execute of
    /// a portal that does not exist: it fails there and aborts their transaction the same way.
    /// Their replies are swallowed.
    pub(super) fn abort_others(&mut self, failed: NodeSet) {
        let mut nodes = self.unsynced;
        for n in self.usable.iter() {
            if matches!(self.tx(n), b'T' | b'E') {
                nodes.insert(n);
            }
        }
        let nodes = NodeSet(nodes.0 & !failed.0);
        if nodes.is_empty() {
            return;
        }
        self.send_abort(nodes);
        if self
            .queue
            .iter()
            .any(|q| q.awaits == Awaits::Ready && !q.simple && q.fwd.is_some())
        {
            // the client's Sync went out already, without these nodes: one of their own
            // ends the abort (a node left skipping to Sync would drop the client's next
            // messages)
            let mut sync = Vec::with_capacity(5);
            messages::sync(&mut sync);
            self.send_raw(nodes, &sync);
            self.queue.push_back(Entry::new(Awaits::Ready, nodes, None));
        } else {
            self.flush_nodes(nodes);
            self.unsynced = self.unsynced.union(nodes);
        }
    }

    /// Send `nodes` an Execute of a portal that does not exist: its error aborts their
    /// transaction, and is swallowed.
    fn send_abort(&mut self, nodes: NodeSet) {
        let mut m = Vec::with_capacity(32);
        let start = messages::begin(&mut m, b'E');
        messages::put_cstr(&mut m, b"pgpool_rs_abort");
        m.extend_from_slice(&0u32.to_be_bytes());
        messages::finish(&mut m, start);
        self.send_raw(nodes, &m);
        self.queue.push_back(Entry {
            abort: true,
            ..Entry::new(Awaits::Execute, nodes, None)
        });
    }

    /// A simple query sent between extended messages ended the implicit transaction they
    /// opened: on the nodes it did not go to, end theirs the same way, committed, or rolled
    /// back when the query failed (`ok` false), as PostgreSQL ends one transaction.
    pub(super) fn end_implicit_elsewhere(&mut self, queried: NodeSet, ok: bool) {
        let mut left = NodeSet::EMPTY;
        for n in self.unsynced.iter() {
            if !queried.contains(n) && self.tx(n) == b'I' {
                left.insert(n);
            }
        }
        self.unsynced = NodeSet(self.unsynced.0 & !queried.0 & !left.0);
        if left.is_empty() {
            return;
        }
        if !ok {
            self.send_abort(left);
        }
        let mut sync = Vec::with_capacity(5);
        messages::sync(&mut sync);
        self.send_raw(left, &sync);
        self.queue.push_back(Entry::new(Awaits::Ready, left, None));
    }

    /// Inside an aborted transaction PostgreSQL refuses every statement but the
    /// transaction's end (25P02). pgpool answers for it, as for a simple query (routing.md §3
    /// step 4): the node a message goes to may not be the one whose transaction failed, and
    /// would run it.
    fn refused_in_failed_tx(&self, stmt: &Stmt) -> bool {
        self.route.failed && !crate::session::ends_transaction(&stmt.analysis)
    }

    /// Queue a reply made by pgpool.
    fn local(&mut self, bytes: Vec<u8>) {
        self.queue.push_back(Entry::local(bytes));
    }

    /// The router's decision for a statement, with catalog questions answered on the primary
    /// when it is `catalog_quiet`.
    fn decide(&mut self, stmt: &Stmt) -> Decision {
        self.refresh_delays();
        if self.catalog_quiet(self.primary) && self.flush_backends().is_err() {
            return Decision {
                nodes: NodeSet::single(self.primary),
                main: self.primary,
            };
        }
        let primary = self.primary;
        let primary_tx = self.tx(primary);
        let mut d = self.with_router(stmt, |ctx| {
            ctx.router.route(
                &ctx.view,
                ctx.route,
                &stmt.analysis,
                &stmt.text,
                primary_tx,
                ctx.look,
                ctx.rng,
            )
        });
        // only connected nodes, never an empty set
        d.nodes = NodeSet(d.nodes.0 & self.usable.0);
        if d.nodes.is_empty() {
            d.nodes = NodeSet::single(primary);
        }
        d.main = d.nodes.first().unwrap_or(primary);
        d
    }

    /// May catalog questions go to node `n` now? Every reply it owes has been read, and it
    /// had a Sync since its last message, or it is inside a transaction block, where the
    /// internal query's own Sync ends nothing of the client's.
    fn catalog_quiet(&self, n: usize) -> bool {
        !self.queue.iter().any(|q| q.nodes.contains(n))
            && (!self.unsynced.contains(n) || self.tx(n) == b'T')
    }

    /// Run `f` with the router, the session's routing state, the node view, the random source
    /// and a catalog lookup for `stmt` (on the primary, or with `relcache_query_target =
    /// load_balance_node` on the session's load-balance node, when `catalog_quiet`).
    /// `catalog_wanted` tells afterwards whether a question went unanswered that waiting for
    /// the replies in flight would answer.
    fn with_router<R>(&mut self, stmt: &Stmt, f: impl FnOnce(RouteCtx<'_, '_>) -> R) -> R {
        let primary = self.primary;
        let target = if self.router.relcache_on_lb_node && self.usable.contains(self.route.lb_node)
        {
            self.route.lb_node
        } else {
            primary
        };
        let (target_quiet, primary_quiet) =
            (self.catalog_quiet(target), self.catalog_quiet(primary));
        let waitable = |n: usize, quiet: bool| !quiet && self.tx(n) == b'T';
        let waitable = waitable(target, target_quiet)
            || (target != primary && waitable(primary, primary_quiet));
        let Engine {
            be,
            child,
            temp,
            out,
            route,
            router,
            database,
            usable,
            weights,
            delays,
            ..
        } = self;
        let (target_conn, primary_conn) = two_mut(be, target, primary);
        let conn = target_conn.filter(|_| target_quiet);
        let primary_conn = primary_conn.filter(|_| primary_quiet);
        let child = &mut **child;
        let mut look = Lookup::new(
            conn,
            &mut child.relcache,
            temp,
            router.check_temp_table,
            database,
            &stmt.analysis,
            out,
        )
        .waitable(waitable);
        if target != primary {
            look = look.primary_elsewhere(primary_conn);
        }
        let r = f(RouteCtx {
            router,
            route,
            look: &mut look,
            view: NodeView {
                usable: *usable,
                primary,
                weights,
                delays,
            },
            rng: &mut child.rng,
        });
        self.catalog_wanted = look.wanted;
        r
    }

    /// pgpool's statement logging of a message sent to `nodes`: `statement` goes to
    /// `log_statement` (a simple query or an Execute: the statement text), `per_node` to
    /// `log_per_node_statement`, one line per node, `first` (an extended message's main node)
    /// first and `last` (a simple COMMIT's or ROLLBACK's main node) last.
    fn log_sent(
        &mut self,
        nodes: NodeSet,
        (first, last): (Option<usize>, Option<usize>),
        statement: Option<&str>,
        per_node: &dyn Fn() -> String,
    ) {
        if let (true, Some(text)) = (self.logging.statement, statement) {
            pglog!(Severity::Log, "statement: {}", text);
        }
        if self.logging.per_node || self.logging.notice_per_node {
            let what = per_node();
            let head = first.filter(|&f| nodes.contains(f));
            let rest = NodeSet(nodes.0 & !head.map_or(0, |f| 1u128 << f));
            for n in head.into_iter().chain(in_order(rest, last)) {
                if self.logging.per_node {
                    pglog!(
                        Severity::Log,
                        "DB node id: {} backend pid: {} statement: {}",
                        n,
                        self.be[n].as_ref().map_or(0, |b| b.pid),
                        what
                    );
                }
                if self.logging.notice_per_node {
                    crate::session::per_node_notice(&mut self.out, n, &what);
                }
            }
        }
    }

    fn simple_query(&mut self, msg: &[u8]) -> Result<(), End> {
        let body = &msg[5..];
        let sql = body.strip_suffix(&[0]).unwrap_or(body);
        if !self.copy_nodes.is_empty() {
            // in COPY FROM STDIN a Query is an error PostgreSQL reports, ending the COPY
            self.send_raw(self.copy_nodes, msg);
            return Ok(());
        }
        if self.queue.iter().any(|q| q.awaits.is_extended()) {
            // A Query between extended messages (pgJDBC's autosave SAVEPOINT after its
            // unsynced BEGIN): PostgreSQL runs it after them, or not at all when one of them
            // failed. Held until they are answered, it then goes the usual way, or is dropped
            // with the rest of the group (pgpool ends the session here).
            self.hold();
            return Ok(());
        }
        if !self.skipping.is_empty() {
            // a node skipping to Sync after an error the client was not given would ignore it
            let m = format!(
                "simple query \"{}\" arrived before ending an extended query message",
                String::from_utf8_lossy(sql)
            );
            pglog!(Severity::Error, "{}", m);
            let _ = self.client.write_all(&self.out);
            self.out.clear();
            crate::child::send_error(self.client, &PgError::fatal("08P01", &m));
            return Err(End::ClientGone);
        }
        let intercepted = commands::intercept(sql);
        let text = match std::str::from_utf8(sql) {
            Ok(t) => t.to_owned(),
            Err(_) => String::from_utf8_lossy(sql).into_owned(),
        };
        if intercepted.is_none() {
            // PostgreSQL drops the unnamed statement before it runs a simple query (on every
            // node here: on a node the query does not go to, it is no longer the client's),
            // and replaces the unnamed portal unless the transaction has failed
            self.records.forget_unnamed(!self.route.failed);
        }
        let refused = self.route.failed
            && crate::session::refused_in_aborted_tx(&text, intercepted.is_some());
        if (refused || intercepted.is_some()) && self.logging.statement {
            // answered by pgpool itself: logged all the same, as pgpool logs what it receives
            pglog!(Severity::Log, "statement: {}", text);
        }
        if refused {
            let mut out = Vec::with_capacity(256);
            crate::session::aborted_tx_reply(&mut out, &text);
            self.local(out);
            return Ok(());
        }
        if let Some(cmd) = intercepted {
            self.intercepted(&cmd);
            return Ok(());
        }
        let analysis = sql::analyze(&text);
        self.log_unparsable(&analysis, &text);
        let stmt = Rc::new(Stmt { text, analysis });
        let a = &stmt.analysis;
        let primary_tx = self.tx(self.primary);
        let terminated = a
            .terminate_pid
            .and_then(|pid| self.terminated_connection(pid));
        let d = match &a.kind {
            Kind::Execute { name } => self.execute_target(name, &stmt),
            Kind::Deallocate { name: Some(name) } => self.named_target(name),
            _ if terminated.is_some() => {
                let n = terminated.map_or(self.primary, |(ci, n)| {
                    // its session ends without taking the node for failed
                    ci.swallow_termination
                        .store(true, std::sync::atomic::Ordering::Relaxed);
                    n
                });
                Decision {
                    nodes: NodeSet::single(n),
                    main: n,
                }
            }
            Kind::Deallocate { name: None } => {
                let nodes =
                    NodeSet(self.router.expand_all(&self.view(), &self.route).0 & self.usable.0);
                let nodes = if nodes.is_empty() {
                    NodeSet::single(self.primary)
                } else {
                    nodes
                };
                Decision {
                    nodes,
                    main: nodes.first().unwrap_or(self.primary),
                }
            }
            _ => self.decide(&stmt),
        };
        let mut nodes = d.nodes;
        let mut main = d.main;
        if primary_tx == b'I' {
            // no transaction is open: nothing is owed from an earlier one
            self.lazy_begin = None;
        }
        if matches!(a.kind, Kind::Commit | Kind::Rollback) {
            self.lazy_begin = None;
            // a node that never saw the BEGIN does not get the COMMIT (the primary always does)
            for n in d.nodes.iter() {
                if n != self.primary && n != d.main && self.tx(n) == b'I' {
                    nodes.remove(n);
                }
            }
            if d.main != self.primary && self.tx(d.main) == b'I' && nodes.contains(self.primary) {
                nodes.remove(d.main);
                main = self.primary;
            }
        } else if a.kind == Kind::Begin
            && !a.multi
            && primary_tx == b'I'
            && nodes.contains(self.primary)
        {
            // a node whose implicit transaction is open (extended messages not synced yet)
            // takes the BEGIN now: PostgreSQL makes that transaction the block
            let now = NodeSet::single(self.primary).union(NodeSet(self.unsynced.0 & self.usable.0));
            self.defer_begin(msg, a.begin_rewrite, now);
            nodes = now;
            main = self.primary;
        } else {
            self.begin_where_needed(nodes);
        }
        if let Some(db) = &a.drop_database {
            crate::session::before_drop_database(self.child, db);
        }
        let rewritten = a.begin_rewrite.then(|| {
            let mut q = Vec::with_capacity(12);
            messages::query(&mut q, "BEGIN");
            q
        });
        for n in nodes.iter() {
            if self.be[n].is_none() {
                continue;
            }
            match &rewritten {
                Some(q) if n != self.primary => self.wbuf[n].extend_from_slice(q),
                _ => self.wbuf[n].extend_from_slice(msg),
            }
            stats::count_statement(self.child.sh.backend(n), sql);
        }
        self.child
            .sh
            .process(self.child.slot)
            .set_status(ChildStatus::CommandExecute);
        let last = matches!(a.kind, Kind::Commit | Kind::Rollback).then_some(main);
        self.main_last = last;
        self.log_sent(nodes, (None, last), Some(&stmt.text), &|| stmt.text.clone());
        let mut e = Entry::new(Awaits::Ready, nodes, Some(main));
        e.simple = true;
        e.tx_before = primary_tx;
        e.stmt = Some(stmt);
        self.queue.push_back(e);
        Ok(())
    }

    /// pg_terminate_backend(pid) of a backend some pgpool child holds (routing.md §3.1 step 8):
    /// that connection's shared row and its node, so the statement reaches the server that has
    /// that pid.
    fn terminated_connection(
        &self,
        pid: i32,
    ) -> Option<(&'static crate::shmem::ConnectionInfo, usize)> {
        let sh = self.child.sh;
        (0..sh.num_children).find_map(|c| {
            (0..sh.max_pool).find_map(|p| {
                (0..sh.num_backends())
                    .filter(|&n| self.usable.contains(n))
                    .map(|n| (sh.connection(c, p, n), n))
                    .find(|(ci, _)| ci.pid.load(std::sync::atomic::Ordering::Relaxed) == pid)
            })
        })
    }

    /// The node view for decisions that need no catalog.
    fn view(&self) -> NodeView<'_> {
        NodeView {
            usable: self.usable,
            primary: self.primary,
            weights: &self.weights,
            delays: &self.delays,
        }
    }

    /// EXECUTE / DEALLOCATE name: where the statement was prepared (routing.md §9.3).
    fn named_target(&self, name: &str) -> Decision {
        let nodes = self
            .records
            .statements
            .get(name)
            .map(|r| NodeSet(r.nodes.0 & self.usable.0))
            .filter(|n| !n.is_empty())
            .unwrap_or(NodeSet::single(self.primary));
        Decision {
            nodes,
            main: nodes.first().unwrap_or(self.primary),
        }
    }

    /// SQL EXECUTE: the PREPARE's nodes — after re-creating the statement on the primary when
    /// the transaction has written (routing.md §9.3).
    fn execute_target(&mut self, name: &str, _stmt: &Stmt) -> Decision {
        let rec = self.records.statements.get(name).cloned();
        if let Some(mut rec) = rec {
            let needs_primary = rec.sql_prepare
                && self.router.load_balance
                && self.router.lb_on_write != LbOnWrite::Off
                && self.route.writing
                && self.tx(self.primary) == b'T'
                && !rec.nodes.contains(self.primary)
                && self.queue.is_empty();
            if needs_primary && self.flush_backends().is_ok() {
                let p = self.primary;
                let check = format!(
                    "SELECT count(*) FROM pg_prepared_statements WHERE name = {}",
                    super::catalog::quote_literal(name)
                );
                let Engine { be, out, .. } = self;
                if let Some(conn) = be[p].as_mut() {
                    let exists = super::catalog::internal_query(conn, &check, out)
                        .ok()
                        .and_then(|s| s.first()?.first()?.first().cloned().flatten())
                        .is_some_and(|c| c != "0");
                    let mut ok = true;
                    if exists {
                        ok = super::catalog::internal_query(
                            conn,
                            &format!("DEALLOCATE {}", super::catalog::quote_ident(name)),
                            out,
                        )
                        .is_ok();
                    }
                    if ok && super::catalog::internal_query(conn, &rec.stmt.text, out).is_ok() {
                        rec.nodes = NodeSet::single(p);
                        self.records.statements.insert(name.to_owned(), rec);
                    }
                }
            }
        }
        self.named_target(name)
    }

    /// Answer SHOW pool_* / PGPOOL SET … in place.
    fn intercepted(&mut self, cmd: &commands::Intercept) {
        let lb = self.route.lb_node;
        let child = &mut *self.child;
        let cfg = self.session_cfg.get_or_insert_with(|| child.cfg.clone());
        let mut ctx = CommandContext {
            cfg,
            sh: child.sh,
            child_slot: child.slot,
            load_balance_node: Some(lb),
            startup_cfg: &child.cfg,
        };
        let mut reply = commands::answer(cmd, &mut ctx);
        self.logging.follow(cfg);
        self.client_idle_limit = cfg.get_int("client_idle_limit");
        if matches!(
            cmd,
            commands::Intercept::PgpoolSet { .. } | commands::Intercept::PgpoolReset(_)
        ) {
            // session-level routing parameters (allow_sql_comments, load_balance_mode, …)
            let cfg = match &self.session_cfg {
                Some(c) => c.clone(),
                None => self.child.cfg.clone(),
            };
            self.apply_routing_settings(&cfg);
        }
        // the transaction state of the session, not always idle
        let state = self.tx(self.primary);
        if let Some(last) = reply.last_mut() {
            *last = state;
        }
        self.local(reply);
    }

    /// routing.md §6.1 and the statement records after a simple query completed.
    pub(super) fn after_simple(&mut self, stmt: &Rc<Stmt>, ok: bool, tx_before: u8, e: &Entry) {
        let a = stmt.analysis.clone();
        // PREPAREs after the first statement of a string count as sent (routing.md §3.2): they
        // may have run even if a later statement failed, and PREPARE is not transactional
        for name in &a.later_prepares {
            self.records.add_statement(
                name,
                Record {
                    stmt: stmt.clone(),
                    nodes: NodeSet::single(self.primary),
                    parse_body: None,
                    sql_prepare: true,
                    either: false,
                    broken: false,
                },
            );
        }
        if !ok {
            let in_tx = tx_before != b'I' || self.tx(self.primary) != b'I';
            self.failed(if in_tx { b'T' } else { b'I' });
            return;
        }
        self.with_router(stmt, |ctx| {
            ctx.router
                .after_success(ctx.route, &stmt.analysis, &stmt.text, tx_before, ctx.look)
        });
        match &a.kind {
            Kind::Prepare { name } => self.records.add_statement(
                name,
                Record {
                    stmt: stmt.clone(),
                    nodes: e.nodes,
                    parse_body: None,
                    sql_prepare: true,
                    either: false,
                    broken: false,
                },
            ),
            Kind::Deallocate { name: Some(name) } => {
                self.records.statements.remove(name);
            }
            Kind::Deallocate { name: None } => self.records.statements.clear(),
            Kind::Discard(DiscardKind::All) => {
                self.records.clear();
                self.temp.traced.clear();
                self.temp.changed();
            }
            Kind::CreateTempTable { name } => {
                let in_tx = self.tx(self.primary) != b'I';
                self.temp.traced.create(name, in_tx);
                self.temp.changed();
            }
            Kind::DropTable => {
                let in_tx = self.tx(self.primary) != b'I';
                self.temp.traced.drop_all(in_tx);
                self.temp.changed();
            }
            Kind::Commit => self.temp.traced.end(true),
            Kind::Rollback => self.temp.traced.end(false),
            Kind::TwoPhase => self.close_standby_transactions(),
            _ => {}
        }
    }

    /// After PREPARE TRANSACTION / COMMIT PREPARED / ROLLBACK PREPARED, which end the
    /// transaction on the primary: commit the transaction still open on the other nodes
    /// (routing.md §6.1, §9.1).
    pub(super) fn close_standby_transactions(&mut self) {
        let primary = self.primary;
        let Engine {
            be, out, usable, ..
        } = self;
        for n in usable.iter() {
            if n == primary {
                continue;
            }
            if let Some(b) = be[n].as_mut().filter(|b| b.tx == b'T') {
                if super::catalog::internal_query(b, "COMMIT", out).is_err() {
                    pglog!(Severity::Log, "failed to commit the transaction of node {} after a two-phase commit command", n);
                }
            }
        }
    }

    fn parse(&mut self, msg: &[u8]) -> Result<(), End> {
        let body = &msg[5..];
        let pm = match messages::parse_parse(body) {
            Ok(p) => p,
            Err(e) => return Err(super::super::protocol_violation(self.client, &e)),
        };
        let name = pm.name.into_owned();
        let text = pm.query.into_owned();
        let analysis = sql::analyze(&text);
        self.log_unparsable(&analysis, &text);
        let stmt = Rc::new(Stmt { text, analysis });
        let a = &stmt.analysis;
        if self.refused_in_failed_tx(&stmt) && !a.unparsable && !a.empty {
            // PostgreSQL drops the unnamed statement before it refuses the new one
            let undo = name.is_empty().then(|| self.records.statement_undo(""));
            if name.is_empty() {
                self.records.statements.remove("");
            }
            self.local_error("25P02", crate::session::ABORTED_TX, undo);
            return Ok(());
        }
        let (d, either) = match self.held_parse.take() {
            Some(held) => held,
            None => {
                self.catalog_wanted = false;
                let target = self.parse_target(&name, &stmt);
                if self.catalog_wanted && !self.waited_for_catalog {
                    // a catalog question (the isolation level, a function's volatility) can
                    // be asked once the replies in flight are read, as in a JDBC-style
                    // BEGIN and SELECT before one Sync: hold the Parse until then and route
                    // it again, rather than keep the read on the primary
                    self.hold();
                    self.waited_for_catalog = true;
                    return Ok(());
                }
                target
            }
        };
        self.waited_for_catalog = false;
        if self.must_wait(d.nodes) {
            self.held_parse = Some((d, either));
            return Ok(());
        }
        let rewritten = stmt.analysis.begin_rewrite.then(|| {
            let mut p = Vec::with_capacity(32);
            let start = messages::begin(&mut p, b'P');
            messages::put_cstr(&mut p, name.as_bytes());
            messages::put_cstr(&mut p, b"BEGIN");
            p.extend_from_slice(&[0, 0]);
            messages::finish(&mut p, start);
            p
        });
        self.begin_where_needed(d.nodes);
        for n in d.nodes.iter() {
            if self.be[n].is_none() {
                continue;
            }
            match &rewritten {
                Some(p) if n != self.primary => self.wbuf[n].extend_from_slice(p),
                _ => self.wbuf[n].extend_from_slice(msg),
            }
        }
        self.unsynced = self.unsynced.union(d.nodes);
        self.log_sent(d.nodes, (Some(d.main), None), None, &|| {
            format!("Parse: {}", stmt.text)
        });
        let mut e = Entry::new(Awaits::Parse, d.nodes, Some(d.main));
        e.undo = Some(self.records.statement_undo(&name));
        self.records.add_statement(
            &name,
            Record {
                stmt: stmt.clone(),
                nodes: d.nodes,
                parse_body: Some(Rc::new(msg.to_vec())),
                sql_prepare: false,
                either,
                broken: false,
            },
        );
        e.stmt = Some(stmt);
        self.queue.push_back(e);
        Ok(())
    }

    /// Where a Parse goes: a second statement of an existing name where the first lives, so
    /// that PostgreSQL refuses it (42P05) as it would without pgpool (routed afresh, it could
    /// reach a node without the first and succeed, and later Binds would run the first);
    /// otherwise where the router sends the statement, and under `dml_adaptive` a named one
    /// to the primary and the load-balance node as well (true: each Bind picks one of them).
    fn parse_target(&mut self, name: &str, stmt: &Stmt) -> (Decision, bool) {
        if let Some(r) = self
            .records
            .statements
            .get(name)
            .filter(|_| !name.is_empty())
        {
            let d = Decision {
                nodes: r.nodes,
                main: r.nodes.first().unwrap_or(self.primary),
            };
            return (d, r.either);
        }
        let mut d = self.decide(stmt);
        if self.router.lb_on_write != LbOnWrite::DmlAdaptive || name.is_empty() {
            return (d, false);
        }
        let mut both = d.nodes;
        both.insert(self.primary);
        if self.usable.contains(self.route.lb_node) {
            both.insert(self.route.lb_node);
        }
        d.nodes = both;
        d.main = both.first().unwrap_or(self.primary);
        (d, true)
    }

    fn bind(&mut self, msg: &[u8]) -> Result<(), End> {
        let body = &msg[5..];
        let Some((portal, rest)) = messages::take_cstr(body) else {
            return Err(bad_message(self.client, "Bind"));
        };
        let Some((sname, rest)) = messages::take_cstr(rest) else {
            return Err(bad_message(self.client, "Bind"));
        };
        let supplied = bind_parameters(rest);
        let portal = String::from_utf8_lossy(portal).into_owned();
        let sname = String::from_utf8_lossy(sname).into_owned();
        let Some(mut rec) = self.records.statements.get(&sname).cloned() else {
            let m = match sname.as_str() {
                "" => "unnamed prepared statement does not exist".to_string(),
                _ => format!("prepared statement \"{sname}\" does not exist"),
            };
            self.local_error("XX000", &m, None);
            return Ok(());
        };
        // where pgpool refuses the Bind itself, PostgreSQL's check of the parameter count
        // comes first
        if self.refused_in_failed_tx(&rec.stmt) {
            match count_error(&rec, supplied, &sname) {
                Some(m) => self.local_error("08P01", &m, None),
                None => self.local_error("25P02", crate::session::ABORTED_TX, None),
            }
            return Ok(());
        }
        if rec.either {
            // parsed on two nodes: this run goes to the one the router picks now (pgpool
            // binds it on both, and a write fails on the standby)
            let d = self.decide(&rec.stmt);
            let pick = NodeSet(d.nodes.0 & rec.nodes.0);
            rec.nodes = match pick.first() {
                Some(_) => pick,
                None => NodeSet::single(self.primary),
            };
        }
        if let Some(r) = self
            .records
            .portals
            .get(&portal)
            .filter(|_| !portal.is_empty())
        {
            // A second portal of an existing name: PostgreSQL refuses it (after its checks
            // of the statement). Where the statement lives beside the first portal, it does
            // so there; elsewhere it would not know of the first, and pgpool answers.
            if rec.nodes.0 & !r.nodes.0 != 0 {
                match count_error(&rec, supplied, &sname) {
                    Some(m) => self.local_error("08P01", &m, None),
                    None => {
                        let m = format!("cursor \"{portal}\" already exists");
                        self.local_error("42P03", &m, None);
                    }
                }
                return Ok(());
            }
        }
        rec.either = false;
        let p = self.primary;
        let reparse = self.router.load_balance
            && self.router.lb_on_write != LbOnWrite::Off
            && self.route.writing
            && self.tx(p) == b'T'
            && rec.parse_body.is_some()
            && !rec.nodes.contains(p);
        let nodes = if reparse {
            NodeSet::single(p)
        } else {
            rec.nodes
        };
        if self.must_wait(nodes) {
            return Ok(());
        }
        if reparse {
            // parse_before_bind: the statement now runs on the primary; parse it there first
            if !sname.is_empty() {
                let mut c = Vec::with_capacity(sname.len() + 8);
                let start = messages::begin(&mut c, b'C');
                c.push(b'S');
                messages::put_cstr(&mut c, sname.as_bytes());
                messages::finish(&mut c, start);
                self.wbuf[p].extend_from_slice(&c);
                self.queue
                    .push_back(Entry::new(Awaits::Close, NodeSet::single(p), None));
            }
            if let Some(pb) = &rec.parse_body {
                self.wbuf[p].extend_from_slice(pb);
            }
            let mut e = Entry::new(Awaits::Parse, NodeSet::single(p), None);
            e.undo = Some(self.records.statement_undo(&sname));
            self.queue.push_back(e);
            rec.nodes = NodeSet::single(p);
            self.records.statements.insert(sname.clone(), rec.clone());
        }
        self.send(rec.nodes, msg);
        self.unsynced = self.unsynced.union(rec.nodes);
        self.log_sent(rec.nodes, (rec.nodes.first(), None), None, &|| {
            format!("Bind: {}", rec.stmt.text)
        });
        let fwd = rec.nodes.first();
        let mut e = Entry::new(Awaits::Bind, rec.nodes, fwd);
        e.undo = Some(self.records.portal_undo(&portal));
        self.records.add_portal(
            &portal,
            Record {
                parse_body: None,
                broken: false,
                ..rec.clone()
            },
        );
        e.stmt = Some(rec.stmt);
        self.queue.push_back(e);
        Ok(())
    }

    /// The nodes of the statement (`S`) or portal (`P`) a Describe/Close names; None when
    /// unknown. Err for another target byte.
    fn target(&self, body: &[u8], what: &str) -> Result<(u8, String, Option<Record>), ()> {
        let Some((&kind, rest)) = body.split_first() else {
            return Err(());
        };
        let Some((name, _)) = messages::take_cstr(rest) else {
            return Err(());
        };
        let name = String::from_utf8_lossy(name).into_owned();
        let rec = match kind {
            b'S' => self.records.statements.get(&name).cloned(),
            b'P' => self.records.portals.get(&name).cloned(),
            _ => {
                pglog!(
                    Severity::Error,
                    "invalid {} message: unknown target \"{}\"",
                    what,
                    kind as char
                );
                return Err(());
            }
        };
        Ok((kind, name, rec))
    }

    fn describe(&mut self, msg: &[u8]) -> Result<(), End> {
        let Ok((kind, name, rec)) = self.target(&msg[5..], "Describe") else {
            return Err(bad_message(self.client, "Describe"));
        };
        if name.is_empty() && rec.is_none() {
            // a node the client's last simple query did not go to may still hold one
            self.no_unnamed(kind);
            return Ok(());
        }
        if let Some(r) = rec
            .as_ref()
            .filter(|r| !r.broken && self.refused_in_failed_tx(&r.stmt))
        {
            // PostgreSQL refuses to describe a result in an aborted transaction
            if matches!(
                r.stmt.analysis.kind,
                Kind::Select | Kind::Show | Kind::Explain { .. }
            ) {
                self.local_error("25P02", crate::session::ABORTED_TX, None);
                return Ok(());
            }
        }
        // unknown (a DECLAREd cursor's portal, an SQL-level statement): the primary answers
        let nodes = rec
            .as_ref()
            .map(|r| r.nodes)
            .unwrap_or(NodeSet::single(self.primary));
        if self.must_wait(nodes) {
            return Ok(());
        }
        self.send(nodes, msg);
        self.unsynced = self.unsynced.union(nodes);
        self.log_sent(nodes, (nodes.first(), None), None, &|| "D message".into());
        let mut e = Entry::new(Awaits::Describe, nodes, nodes.first());
        e.stmt = rec.map(|r| r.stmt);
        self.queue.push_back(e);
        Ok(())
    }

    fn execute(&mut self, msg: &[u8]) -> Result<(), End> {
        let body = &msg[5..];
        let Some((portal, _)) = messages::take_cstr(body) else {
            return Err(bad_message(self.client, "Execute"));
        };
        let portal = String::from_utf8_lossy(portal).into_owned();
        let mut rec = self.records.portals.get(&portal).cloned();
        if portal.is_empty() && rec.is_none() {
            self.no_unnamed(b'P');
            return Ok(());
        }
        if rec
            .as_ref()
            .is_some_and(|r| !r.broken && self.refused_in_failed_tx(&r.stmt))
        {
            self.local_error("25P02", crate::session::ABORTED_TX, None);
            return Ok(());
        }
        let nodes = rec
            .as_ref()
            .map(|r| r.nodes)
            .unwrap_or(NodeSet::single(self.primary));
        if self.must_wait(nodes) {
            return Ok(());
        }
        if rec.as_ref().is_some_and(|r| r.broken) {
            // nothing runs: the node answers EmptyQueryResponse
            rec = None;
        }
        self.send(nodes, msg);
        self.unsynced = self.unsynced.union(nodes);
        let mut e = Entry::new(Awaits::Execute, nodes, nodes.first());
        e.tx_before = self.tx(self.primary);
        if let Some(rec) = rec {
            let stmt = rec.stmt.clone();
            for n in nodes.iter() {
                stats::count_statement(self.child.sh.backend(n), stmt.text.as_bytes());
            }
            self.log_sent(nodes, (nodes.first(), None), Some(&stmt.text), &|| {
                format!("Execute: {}", stmt.text)
            });
            let a = stmt.analysis.clone();
            if matches!(
                a.kind,
                Kind::Copy {
                    from: true,
                    stdio: true
                }
            ) {
                self.copy_wait = true;
            }
            let ptx = self.tx(self.primary);
            self.with_router(&stmt, |ctx| {
                ctx.router
                    .after_success(ctx.route, &stmt.analysis, &stmt.text, ptx, ctx.look)
            });
            match &a.kind {
                // temporary tables may change: forget the answers that depend on them
                Kind::CreateTempTable { name } => {
                    self.temp.traced.create(name, ptx != b'I');
                    self.temp.changed();
                }
                Kind::DropTable => {
                    self.temp.traced.drop_all(ptx != b'I');
                    self.temp.changed();
                }
                Kind::Discard(DiscardKind::All) => {
                    self.temp.traced.clear();
                    self.temp.changed();
                }
                Kind::Commit => self.temp.traced.end(true),
                Kind::Rollback => self.temp.traced.end(false),
                _ => {}
            }
            // a transaction starts or ends here (until its ReadyForQuery confirms it), the
            // portals of an ended one with it
            let tx = match a.kind {
                Kind::Begin => Some(b'T'),
                Kind::Commit | Kind::Rollback => {
                    e.undo = Some(self.records.end_portals());
                    Some(b'I')
                }
                _ => None,
            };
            if let Some(tx) = tx {
                for n in nodes.iter() {
                    if let Some(b) = self.be[n].as_mut() {
                        b.tx = tx;
                    }
                }
            }
            e.stmt = Some(stmt);
        }
        self.child
            .sh
            .process(self.child.slot)
            .set_status(ChildStatus::CommandExecute);
        self.queue.push_back(e);
        Ok(())
    }

    fn close(&mut self, msg: &[u8]) -> Result<(), End> {
        let Ok((kind, name, rec)) = self.target(&msg[5..], "Close") else {
            return Err(bad_message(self.client, "Close"));
        };
        let Some(rec) = rec else {
            // closing what does not exist is not an error
            let mut out = Vec::with_capacity(5);
            messages::close_complete(&mut out);
            self.local(out);
            return Ok(());
        };
        // parse_before_bind may have made a copy on the primary
        let mut nodes = rec.nodes;
        if self.route.lb_node != self.primary {
            nodes.insert(self.primary);
            if self.usable.contains(self.route.lb_node) {
                nodes.insert(self.route.lb_node);
            }
        }
        if self.must_wait(nodes) {
            return Ok(());
        }
        let mut e = Entry::new(Awaits::Close, nodes, rec.nodes.first());
        if kind == b'S' {
            e.undo = Some(self.records.statement_undo(&name));
            self.records.statements.remove(&name);
        } else {
            e.undo = Some(self.records.portal_undo(&name));
            self.records.portals.remove(&name);
        }
        self.send(nodes, msg);
        self.unsynced = self.unsynced.union(nodes);
        self.log_sent(nodes, (rec.nodes.first(), None), None, &|| {
            "C message".into()
        });
        self.queue.push_back(e);
        Ok(())
    }
}

/// The number of parameter values a Bind body supplies, from the part after its portal and
/// statement names; None when malformed.
fn bind_parameters(rest: &[u8]) -> Option<usize> {
    let formats = u16::from_be_bytes(rest.get(..2)?.try_into().ok()?) as usize;
    let at = 2 + 2 * formats;
    Some(u16::from_be_bytes(rest.get(at..at + 2)?.try_into().ok()?) as usize)
}

/// PostgreSQL's error for a Bind supplying `supplied` parameters to statement `sname` of
/// `rec`, when the count is wrong (only asked where pgpool refuses a Bind itself).
fn count_error(rec: &Record, supplied: Option<usize>, sname: &str) -> Option<String> {
    match (required_parameters(rec), supplied) {
        (Some(req), Some(sup)) if req != sup => Some(format!(
            "bind message supplies {sup} parameters, but prepared statement \"{sname}\" requires {req}"
        )),
        _ => None,
    }
}

/// The number of parameters PostgreSQL gave a statement parsed with the protocol: its declared
/// types, or more when the text refers to a higher `$n`. None for an SQL PREPARE.
fn required_parameters(rec: &Record) -> Option<usize> {
    let body = rec.parse_body.as_ref()?;
    let p = messages::parse_parse(body.get(5..)?).ok()?;
    Some((p.param_types as usize).max(sql::highest_parameter(&p.query)))
}

/// An unknown message type ends the session (as pgpool).
fn unknown_message(client: &crate::protocol::Conn, tag: u8) -> End {
    let detail = format!("unknown message type {}({:02x})", tag as char, tag);
    pglog!(Severity::Error, detail = detail; "unable to process frontend response");
    crate::child::send_error(
        client,
        &PgError::fatal("08P01", "unable to process frontend response").with_detail(detail),
    );
    End::ClientGone
}

/// A malformed extended-protocol message ends the session.
fn bad_message(client: &crate::protocol::Conn, what: &str) -> End {
    let m = format!("invalid {what} message");
    pglog!(Severity::Error, "{}", m);
    crate::child::send_error(client, &PgError::fatal("08P01", &m));
    End::ClientGone
}

/// The nodes of `nodes` in ascending order, `last` moved to the end (pgpool sends a simple
/// COMMIT or ROLLBACK to the other nodes first and to the main node last).
pub(super) fn in_order(nodes: NodeSet, last: Option<usize>) -> impl Iterator<Item = usize> {
    let tail = last.filter(|&l| nodes.contains(l));
    nodes.iter().filter(move |&n| Some(n) != tail).chain(tail)
}

/// Node `a`'s and, when it is another node, node `b`'s connection, both mutable.
fn two_mut(
    be: &mut [Option<crate::pool::BackendConn>],
    a: usize,
    b: usize,
) -> (
    Option<&mut crate::pool::BackendConn>,
    Option<&mut crate::pool::BackendConn>,
) {
    if a == b {
        return (be.get_mut(a).and_then(Option::as_mut), None);
    }
    let (lo, hi) = be.split_at_mut(a.max(b));
    let (low, high) = (lo[a.min(b)].as_mut(), hi[0].as_mut());
    if a < b {
        (low, high)
    } else {
        (high, low)
    }
}
