//! Backend replies of a multi-node session (spec/extended-protocol.md §5): the head of the
//! queue is answered by each of its nodes in turn — the other nodes first, the chosen node
//! last, so a disagreement is known before the client sees the chosen reply's end — and then
//! completed: ReadyForQuery states merged, post-statement bookkeeping, kind mismatches ended
//! with pgpool's error. DataRow and CopyData frames are streamed, whatever their size.

use crate::logger::Severity;
use crate::pglog;
use crate::protocol::messages;
use crate::protocol::pgerror::PgError;
use crate::session::stats;
use crate::sql::Kind;

use super::records::{Awaits, Entry, Undo, KINDS_KEPT};
use crate::router::NodeSet;

/// The statement pgpool sends a node to abort its transaction on purpose (a syntax error).
const ERROR_QUERY: &str = "send invalid query from pgpool to abort transaction";
use super::{End, Engine};

/// Largest backend frame accepted.
const MAX_FRAME: usize = 1 << 30;

/// What reading one node's reply to the head entry gave.
enum Step {
    /// The buffered bytes end inside the reply: read more from the node.
    NeedData,
    /// The node's reply to the head entry is complete.
    Done,
    /// A whole message that needs the session's attention (already forwarded if it goes to
    /// the client, and consumed); its body is in `Engine::frame`.
    Frame(u8),
}

impl Engine<'_> {
    /// Process replies for as many queue entries as the buffered data allows. Returns the node
    /// whose data the head entry waits for, or None when the queue is empty.
    pub(super) fn pump(&mut self) -> Result<Option<usize>, End> {
        loop {
            let Some(head) = self.queue.front() else {
                return Ok(None);
            };
            if head.awaits == Awaits::Local {
                let e = self.queue.pop_front().expect("head");
                if !self.error_in_batch {
                    self.out.extend_from_slice(&e.local);
                }
                continue;
            }
            let mut owing = head.nodes;
            for n in head.done.iter() {
                owing.remove(n);
            }
            if head.awaits.is_extended() {
                for n in self.skipping.iter() {
                    owing.remove(n);
                }
            }
            let fwd = head.fwd;
            let Some(n) = owing
                .iter()
                .find(|&n| Some(n) != fwd)
                .or_else(|| fwd.filter(|&f| owing.contains(f)))
            else {
                self.complete_head()?;
                continue;
            };
            loop {
                match self.read_node(n)? {
                    Step::NeedData => return Ok(Some(n)),
                    Step::Done => {
                        if let Some(h) = self.queue.front_mut() {
                            h.done.insert(n);
                        }
                        break;
                    }
                    Step::Frame(tag) => {
                        let body = std::mem::take(&mut self.frame);
                        let done = self.attend(n, tag, &body);
                        self.frame = body;
                        if done? {
                            if let Some(h) = self.queue.front_mut() {
                                h.done.insert(n);
                            }
                            break;
                        }
                    }
                }
            }
        }
    }

    /// Scan node `n`'s buffered frames belonging to the head entry.
    fn read_node(&mut self, n: usize) -> Result<Step, End> {
        let head = self.queue.front().expect("head");
        let awaits = head.awaits;
        let forwarding = head.fwd == Some(n) && !self.error_in_batch;
        // pgpool logs a simple query whose reply on a node begins with an error or a notice
        let mut first_of =
            (head.simple && !head.started.contains(n) && crate::logger::reported(Severity::Log))
                .then(|| head.stmt.clone())
                .flatten();
        let Some(be) = self.be[n].as_mut() else {
            return Err(End::BackendGone);
        };
        let buf = be.conn.buffered();
        let mut off = 0;
        let mut step = Step::NeedData;
        // forwarded bytes are gathered as one run and copied at the end
        let mut run_start = 0;
        while off < buf.len() {
            let (rem, rem_fwd) = self.rem[n];
            if rem > 0 {
                let take = rem.min(buf.len() - off);
                if rem_fwd {
                    off += take;
                } else {
                    self.out.extend_from_slice(&buf[run_start..off]);
                    off += take;
                    run_start = off;
                }
                self.rem[n].0 -= take;
                continue;
            }
            let h = match be.conn.frame_at(off, MAX_FRAME) {
                Ok(Some(h)) => h,
                Ok(None) => break,
                Err(e) => {
                    pglog!(Severity::Error, "invalid message from backend {}: {}", n, e);
                    return Err(End::BackendGone);
                }
            };
            let avail = buf.len() - off;
            if n < KINDS_KEPT && !matches!(h.tag, b'S' | b'A') {
                if let Some(q) = self.queue.front_mut() {
                    if q.kinds[n] == 0 {
                        if h.tag == b'N' {
                            q.notice_first.insert(n);
                        } else {
                            q.kinds[n] = h.tag;
                        }
                    }
                }
            }
            if let Some(stmt) = first_of.as_ref() {
                if avail < h.total && !matches!(h.tag, b'D' | b'd') {
                    break;
                }
                if matches!(h.tag, b'E' | b'N') {
                    let body = &buf[off + 5..off + h.total];
                    crate::session::log_error_or_notice(n, be.pid, &stmt.text, body);
                }
                first_of = None;
                if let Some(q) = self.queue.front_mut() {
                    q.started.insert(n);
                }
            }
            let forward_this = match h.tag {
                b'A' => true,
                _ => forwarding,
            };
            if avail >= h.total || matches!(h.tag, b'D' | b'd') {
                // the frame is taken now: log it, and put what the log has for the client
                // before it
                if let Some(log) = self.logging.backend.as_mut() {
                    log.message(n, h.tag);
                }
                if super::notices_fit(&self.rem) {
                    self.out.extend_from_slice(&buf[run_start..off]);
                    run_start = off;
                    crate::logger::client::drain_into(&mut self.out);
                }
            }
            if matches!(h.tag, b'D' | b'd') && avail < h.total {
                // stream a large row through
                if !forward_this {
                    self.out.extend_from_slice(&buf[run_start..off]);
                    run_start = buf.len();
                }
                self.rem[n] = (h.total - avail, forward_this);
                off = buf.len();
                break;
            }
            if avail < h.total {
                break;
            }
            let body = &buf[off + 5..off + h.total];
            if h.tag == b'N' {
                crate::session::log_notice(n, body);
            }
            let attention = match h.tag {
                b'E' | b'C' | b'Z' | b'G' | b'W' => true,
                b'S' => {
                    if let Ok((k, v)) = messages::parse_parameter_status(body) {
                        if k == "application_name" {
                            // the session's log lines carry the new name from now on
                            crate::logger::set_application_name(&v);
                        }
                        match be.params.iter_mut().find(|(p, _)| p.as_str() == k) {
                            Some(p) => p.1 = v.into_owned(),
                            None => be.params.push((k.into_owned(), v.into_owned())),
                        }
                    }
                    false
                }
                _ => false,
            };
            let frame_end = off + h.total;
            // the forwarded run: extend it over this frame, or cut it before the frame
            if !(forward_this && (h.tag != b'Z' || awaits != Awaits::Ready)) {
                self.out.extend_from_slice(&buf[run_start..off]);
                run_start = frame_end;
            }
            off = frame_end;
            if attention {
                self.frame.clear();
                self.frame.extend_from_slice(body);
                step = Step::Frame(h.tag);
                break;
            }
            if awaits.ends_with(h.tag) && h.tag != b'N' && h.tag != b'A' && h.tag != b'S' {
                step = Step::Done;
                break;
            }
        }
        if run_start < off {
            self.out.extend_from_slice(&buf[run_start..off]);
        }
        be.conn.consume(off);
        Ok(step)
    }

    /// Handle a message that matters to the session. True when it ends node `n`'s reply to
    /// the head entry.
    fn attend(&mut self, n: usize, tag: u8, body: &[u8]) -> Result<bool, End> {
        let head = self.queue.front_mut().expect("head");
        let awaits = head.awaits;
        let forwarding = head.fwd == Some(n);
        match tag {
            b'E' => {
                if !head.abort {
                    stats::count_error(self.child.sh.backend(n), body);
                }
                if messages::parse_error_fields(body).is_ok_and(|f| f.is_fatal()) {
                    if let Some(b) = self.be[n].as_mut() {
                        b.server_fatal = true;
                    }
                }
                head.errors.insert(n);
                if let Ok(f) = messages::parse_error_fields(body) {
                    head.error_texts
                        .push((n, f.code.into_owned(), f.message.into_owned()));
                }
                if self.copy_nodes.contains(n) {
                    self.copy_nodes = crate::router::NodeSet::EMPTY;
                }
                if forwarding {
                    self.copy_wait = false;
                }
                if awaits.is_extended() {
                    self.skipping.insert(n);
                    if forwarding {
                        crate::session::log_extended_error(n, body);
                        let failed = head.nodes;
                        let made_portal = awaits == Awaits::Bind && bind_made_portal(body);
                        self.error_in_batch = true;
                        self.undo_group(made_portal);
                        self.abort_others(failed);
                        // the client's messages up to its Sync are dropped — unless that Sync
                        // was read already
                        self.ignore_till_sync = !self
                            .queue
                            .iter()
                            .any(|q| q.awaits == Awaits::Ready && !q.simple);
                        let ptx = self.tx(self.primary);
                        self.failed(ptx);
                    }
                    return Ok(true);
                }
                Ok(false)
            }
            b'Z' => {
                if let Some(b) = self.be[n].as_mut() {
                    b.tx = body.first().copied().unwrap_or(b'I');
                }
                self.skipping.remove(n);
                Ok(true)
            }
            b'C' => {
                if forwarding {
                    if let Some(stmt) = &head.stmt {
                        if stmt.analysis.multi {
                            let tag_text = body.split(|&b| b == 0).next().unwrap_or_default();
                            if tag_text == b"BEGIN" {
                                self.route.multi_tx = true;
                            } else if tag_text == b"COMMIT" || tag_text == b"ROLLBACK" {
                                self.route.multi_tx = false;
                            }
                        }
                    }
                }
                Ok(awaits == Awaits::Execute)
            }
            b'G' | b'W' => {
                if forwarding {
                    self.copy_nodes = head.nodes;
                    self.copy_wait = false;
                }
                Ok(false)
            }
            _ => Ok(false),
        }
    }

    /// The head entry failed: PostgreSQL carried out neither it nor the messages after it up
    /// to Sync, so their changes to the statement and portal records are put back, the latest
    /// first.
    ///
    /// Two exceptions. A failed Parse of the unnamed statement: PostgreSQL drops the old
    /// unnamed statement before it parses the new one, so none is left. A Bind that failed
    /// after creating its portal (`made_portal`: while converting the parameters or planning):
    /// the portal stays, broken, until its transaction ends.
    fn undo_group(&mut self, made_portal: bool) {
        let mut undo: Vec<Undo> = self
            .queue
            .iter_mut()
            .take_while(|q| q.awaits != Awaits::Ready)
            .filter_map(|q| q.undo.take())
            .collect();
        let head = self.queue.front().map(|q| q.awaits);
        let mut broken = None;
        match undo.first_mut() {
            Some(Undo::Statement { name, prev })
                if head == Some(Awaits::Parse) && name.is_empty() =>
            {
                *prev = None;
            }
            Some(Undo::Portal { name, .. }) if made_portal => {
                broken = Some(std::mem::take(name));
                undo.remove(0);
            }
            _ => {}
        }
        for u in undo.into_iter().rev() {
            self.records.undo(u);
        }
        if let Some(r) = broken.and_then(|name| self.records.portals.get_mut(&name)) {
            r.broken = true;
        }
    }

    /// Every node answered the head entry: check they agree, then finish it.
    fn complete_head(&mut self) -> Result<(), End> {
        let e = self.queue.pop_front().expect("head");
        if !e.errors.is_empty()
            && e.errors != e.done
            && !self.deferred_commit_error(&e)
            && !self.sync_error(&e)
            && !self.error_sync(&e)
        {
            return Err(self.kind_mismatch(&e));
        }
        if e.awaits == Awaits::Execute
            && e.stmt
                .as_ref()
                .is_some_and(|s| matches!(s.analysis.kind, Kind::Copy { from: true, .. }))
        {
            // the COPY FROM ended (or never started: an error before it): read the client again
            self.copy_wait = false;
        }
        if e.awaits == Awaits::Execute
            && e.errors.is_empty()
            && e.stmt
                .as_ref()
                .is_some_and(|s| s.analysis.kind == Kind::TwoPhase)
        {
            self.two_phase_done = true;
        }
        if e.awaits != Awaits::Ready {
            return Ok(());
        }
        // a simple query's bookkeeping first: a ROLLBACK TO SAVEPOINT ends pgpool's refusal
        if e.simple {
            if let Some(stmt) = &e.stmt {
                let ok = e.errors.is_empty();
                self.after_simple(stmt, ok, e.tx_before, &e);
                if !self.unsynced.is_empty() {
                    self.end_implicit_elsewhere(e.nodes, ok);
                }
            }
        }
        if self.two_phase_done && self.queue.is_empty() && self.unsynced.is_empty() {
            // routing.md §6.1: every node is synced, the standbys' side can be closed
            self.two_phase_done = false;
            self.close_standby_transactions();
        }
        // ReadyForQuery: the primary's state, E when any node of the entry is in E
        let mut state = self.tx(self.primary);
        if !e.nodes.contains(self.primary) {
            if let Some(f) = e.fwd {
                if self.tx(self.primary) == b'I' {
                    state = self.tx(f);
                }
            }
        }
        if e.nodes.iter().any(|n| self.tx(n) == b'E') || (self.route.failed && state == b'T') {
            // aborted, or pgpool refuses for the transaction that failed on another node
            state = b'E';
        }
        self.error_in_batch = false;
        if e.fwd.is_some() {
            messages::ready_for_query(&mut self.out, state);
            match state {
                b'I' => {
                    // portals end with their transaction, and the session is in none
                    self.records.portals.clear();
                    self.route.failed = false;
                }
                b'E' => self.route.failed = true,
                _ => {}
            }
        }
        Ok(())
    }

    /// routing.md §10.2: a simple query whose reply from the main node begins with a deadlock,
    /// serialization, 25001 or cancel error, while the other nodes carried it out inside
    /// their transaction: pgpool would have sent them an invalid statement instead, so that
    /// every node's transaction is aborted. Abort theirs now; the client has the main node's
    /// error and the session goes on (any other disagreement is a kind mismatch).
    fn error_sync(&mut self, e: &Entry) -> bool {
        const SYNCHRONISED: [(&str, &str); 4] = [
            ("40P01", "received deadlock error message from main node"),
            (
                "40001",
                "received serialization failure error message from main node",
            ),
            (
                "25001",
                "received SET TRANSACTION ISOLATION LEVEL must be called before any query error",
            ),
            (
                "57014",
                "received query cancel error message from main node",
            ),
        ];
        let Some(main) = e.fwd else {
            return false;
        };
        if !e.simple || e.awaits != Awaits::Ready || e.notice_first.contains(main) {
            return false;
        }
        let Some(what) = e
            .error_texts
            .iter()
            .find(|(n, _, _)| *n == main)
            .and_then(|(_, code, _)| SYNCHRONISED.iter().find(|(c, _)| c == code))
            .map(|(_, what)| *what)
        else {
            return false;
        };
        let others = NodeSet(e.done.0 & !e.errors.0);
        if others
            .iter()
            .any(|n| self.tx(n) != b'T' || self.unsynced.contains(n))
        {
            return false;
        }
        let query = e.stmt.as_ref().map_or("", |s| s.text.as_str());
        pglog!(Severity::Log, "SimpleQuery: {}. query: {}", what, query);
        for n in others.iter() {
            if let Some(b) = self.be[n].as_mut() {
                // its error is the point: the node's transaction is aborted like the main's
                let _ = super::catalog::internal_query(b, ERROR_QUERY, &mut self.out);
            }
        }
        true
    }

    /// pgpool's exception: a COMMIT that failed on the main node only (deferred constraint).
    fn deferred_commit_error(&self, e: &Entry) -> bool {
        e.stmt
            .as_ref()
            .is_some_and(|s| s.analysis.kind == Kind::Commit)
            && e.fwd.is_some_and(|f| e.errors.contains(f))
    }

    /// A client's Sync failed on the node whose reply the client sees (the primary, where the
    /// group's writes went) but not on the others: the implicit transaction failed to commit
    /// there (a deferred constraint). The client has the error, as from PostgreSQL, and gets
    /// ReadyForQuery.
    fn sync_error(&mut self, e: &Entry) -> bool {
        if e.awaits != Awaits::Ready || e.simple || !e.fwd.is_some_and(|f| e.errors.contains(f)) {
            return false;
        }
        let ptx = self.tx(self.primary);
        self.failed(ptx);
        true
    }

    /// The nodes disagreed on a statement's outcome: the session cannot go on. Reported as
    /// pgpool reports it: a WARNING for each node whose reply kind differs from the main or
    /// majority nodes' kind, then FATAL with each node's kind (and error text) and a HINT.
    fn kind_mismatch(&mut self, e: &Entry) -> End {
        let query = e.stmt.as_ref().map_or("", |s| s.text.as_str());
        let kind_of = |n: usize| {
            let k = e.kinds.get(n).copied().unwrap_or(0);
            if k == 0 {
                '?'
            } else {
                k as char
            }
        };
        let main = e.fwd.unwrap_or(self.primary);
        let nodes: Vec<usize> = e.done.iter().collect();
        let count = |k: char| nodes.iter().filter(|&&n| kind_of(n) == k).count();
        let main_kind = kind_of(main);
        let majority = nodes
            .iter()
            .map(|&n| kind_of(n))
            .max_by_key(|&k| (count(k), k == main_kind))
            .unwrap_or(main_kind);
        let _ = self.client.write_all(&self.out);
        self.out.clear();
        for &n in nodes.iter().filter(|&&n| kind_of(n) != majority) {
            let warning = format!(
                "packet kind of backend {n} ['{}'] does not match with main/majority nodes packet kind ['{majority}']",
                kind_of(n)
            );
            pglog!(Severity::Warning, "{}", warning);
            let mut notice = Vec::with_capacity(64 + warning.len());
            messages::notice_response(&mut notice, "WARNING", "XX000", &warning, None, None);
            let _ = self.client.write_all(&notice);
        }
        let details: Vec<String> = nodes
            .iter()
            .map(|&n| {
                let text = e.error_texts.iter().find(|(m, _, _)| *m == n);
                match (kind_of(n), text) {
                    (k @ ('E' | 'N'), Some((_, _, t))) => format!("{n}[{k}: {t}]"),
                    (k, _) => format!("{n}[{k}]"),
                }
            })
            .collect();
        let detail = format!(
            "kind mismatch among backends. Possible last query was: \"{}\" kind details are: {}",
            query,
            details.join(" ")
        );
        let report = PgError::fatal("XX000", "failed to read kind from backend")
            .with_detail(detail)
            .with_hint("check data consistency among db nodes");
        crate::session::log_report(&report);
        crate::child::send_error(self.client, &report);
        End::BackendGone
    }

    /// Unsolicited messages from a node with nothing asked of it: notifications and notices go
    /// to the client; an error (the server ending the session) is forwarded and ends the
    /// session. A shutdown (`57P01`, or `57P02` after a crash, as an error or a notice) of a
    /// node the session can do without leaves that node out of the session instead, as pgpool
    /// marks it down in the child's own view (routing.md §11.3); pgpool waits forever when the
    /// notice of an immediate shutdown comes from such a node, we go on without it.
    pub(super) fn unsolicited(&mut self, n: usize) -> Result<(), End> {
        let spare = self.can_leave_out(n);
        // pg_terminate_backend() through pgpool ended this connection: not a node failure
        let terminated = self
            .child
            .sh
            .connection(self.child.slot, self.pool_idx, n)
            .swallow_termination
            .load(std::sync::atomic::Ordering::Relaxed);
        let Some(be) = self.be[n].as_mut() else {
            return Ok(());
        };
        let mut off = 0;
        let mut fatal = false;
        let mut shutdown = false;
        {
            let buf = be.conn.buffered();
            while let Ok(Some(h)) = be.conn.frame_at(off, MAX_FRAME) {
                if buf.len() - off < h.total {
                    break;
                }
                if let Some(log) = self.logging.backend.as_mut() {
                    log.message(n, h.tag);
                }
                if super::notices_fit(&self.rem) {
                    crate::logger::client::drain_into(&mut self.out);
                }
                let frame = &buf[off..off + h.total];
                let body = &frame[5..];
                let fields = match h.tag {
                    b'E' | b'N' => messages::parse_error_fields(body).ok(),
                    _ => None,
                };
                let ends = fields
                    .as_ref()
                    .is_some_and(|f| f.code == "57P01" || f.code == "57P02");
                shutdown |= ends;
                match h.tag {
                    _ if ends && (spare || terminated) => {}
                    b'A' | b'N' => self.out.extend_from_slice(frame),
                    b'S' if n == self.main => self.out.extend_from_slice(frame),
                    b'E' => {
                        let own = fields
                            .as_ref()
                            .and_then(|f| crate::session::ended_by_server(&f.code));
                        let substituted = own.is_some();
                        if let Some(e) = own {
                            // pgpool ends the session with its own words for these
                            crate::session::log_fatal(&e);
                            e.to_message(&mut self.out);
                            fatal = true;
                        } else {
                            self.out.extend_from_slice(frame);
                        }
                        if let (Some(f), false) = (&fields, substituted) {
                            fatal = f.is_fatal();
                            pglog!(
                                Severity::Log,
                                "backend {}: {}: {}",
                                n,
                                f.effective_severity(),
                                f.message
                            );
                        }
                    }
                    _ => {}
                }
                off += h.total;
            }
        }
        be.conn.consume(off);
        be.server_fatal |= fatal;
        if shutdown {
            pglog!(
                Severity::Log,
                detail = format!("postmaster on DB node {n} was shutdown by administrative command");
                "reading and processing packets"
            );
            if spare {
                self.leave_out(n);
                return Ok(());
            }
            if terminated {
                let e = PgError::fatal(
                    "XX000",
                    format!("connection to postmaster on DB node {n} was lost due to pg_terminate_backend"),
                )
                .with_detail("pg_terminate_backend was called on the backend");
                crate::session::log_fatal(&e);
                e.to_message(&mut self.out);
                return Err(End::BackendGone);
            }
        }
        // failover_on_backend_shutdown (failover.md §3 row 7): the primary or this session's
        // load-balance node was shut down by its administrator
        if shutdown
            && (n == self.primary || n == self.route.lb_node)
            && self.child.cfg.get_bool("failover_on_backend_shutdown")
        {
            crate::failover::request::notice_backend_error(n);
        }
        if fatal {
            Err(End::BackendGone)
        } else {
            Ok(())
        }
    }

    /// Whether node `n` can leave the session: not its primary, main or load-balance node, and
    /// nothing of the session's outstanding on it.
    fn can_leave_out(&self, n: usize) -> bool {
        n != self.primary
            && n != self.main
            && n != self.route.lb_node
            && !self.unsynced.contains(n)
            && !self.copy_nodes.contains(n)
            && self.rem.get(n).is_some_and(|r| r.0 == 0)
            && self
                .queue
                .iter()
                .all(|q| !q.nodes.contains(n) || q.done.contains(n))
    }

    /// Close node `n`'s connection and go on without it: it is no longer written to, read or
    /// chosen for load balancing in this session, and the pool slot is not kept with a node
    /// missing (`Pool::find` discards it while the node is up).
    fn leave_out(&mut self, n: usize) {
        self.be[n] = None;
        self.usable.remove(n);
        self.skipping.remove(n);
        if let Some((_, pending)) = self.lazy_begin.as_mut() {
            pending.remove(n);
        }
    }
}

/// Did a Bind that failed with this ErrorResponse create its portal first? PostgreSQL looks up
/// the statement (26000), checks the parameter count (08P01), refuses in an aborted transaction
/// (25P02) and refuses a duplicate name (42P03) before it creates the portal; any later error
/// (a parameter's value, the planning) leaves the portal behind until the transaction ends.
fn bind_made_portal(body: &[u8]) -> bool {
    let Ok(f) = messages::parse_error_fields(body) else {
        return false;
    };
    match f.code.as_ref() {
        "26000" | "25P02" | "42P03" => false,
        "08P01" => {
            !(f.message.starts_with("bind message supplies")
                || f.message.contains("parameter formats"))
        }
        _ => true,
    }
}
