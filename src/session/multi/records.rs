//! What a session remembers between messages in streaming/logical mode
//! (spec/extended-protocol.md §2–§3): the statements and portals it knows with the nodes each
//! lives on, and the queue of forwarded requests whose replies are still to come, each with the
//! nodes it went to (a snapshot taken when it was sent) and the node whose reply the client
//! sees.

use std::collections::HashMap;
use std::rc::Rc;

use crate::router::NodeSet;
use crate::sql::Analysis;

/// A statement text with its analysis, shared by the records and queue entries that use it.
#[derive(Debug)]
pub struct Stmt {
    pub text: String,
    pub analysis: Rc<Analysis>,
}

/// A prepared statement (protocol Parse or SQL PREPARE) or a portal, and where it lives.
#[derive(Debug, Clone)]
pub struct Record {
    pub stmt: Rc<Stmt>,
    pub nodes: NodeSet,
    /// The Parse message body, to parse it again on the primary (parse_before_bind); None for
    /// an SQL PREPARE and for portals.
    pub parse_body: Option<Rc<Vec<u8>>>,
    /// Created by SQL PREPARE (its PREPARE text is `stmt.text`).
    pub sql_prepare: bool,
    /// Parsed on the primary and the load-balance node so that each Bind can run it on either
    /// (a named statement under `dml_adaptive`): a Bind routes it to one of `nodes`.
    pub either: bool,
    /// A portal whose Bind failed after PostgreSQL created it: it lives on, empty, until its
    /// (aborted) transaction ends; an Execute of it answers EmptyQueryResponse, a Describe
    /// NoData.
    pub broken: bool,
}

/// Statements and portals by name ("" = the unnamed one).
#[derive(Debug, Default)]
pub struct Records {
    pub statements: HashMap<String, Record>,
    pub portals: HashMap<String, Record>,
}

impl Records {
    /// Remember a statement. A named one that exists already keeps its old record (PostgreSQL
    /// refuses the duplicate); the unnamed one is replaced.
    pub fn add_statement(&mut self, name: &str, rec: Record) {
        if name.is_empty() || !self.statements.contains_key(name) {
            self.statements.insert(name.to_owned(), rec);
        }
    }

    /// Remember a portal (a Bind replaces a portal of the same name, as PostgreSQL does for the
    /// unnamed one; a named duplicate is an error there, so replacing is harmless).
    pub fn add_portal(&mut self, name: &str, rec: Record) {
        self.portals.insert(name.to_owned(), rec);
    }

    /// A statement's record as it is now, to put back with `undo`.
    pub fn statement_undo(&self, name: &str) -> Undo {
        Undo::Statement {
            name: name.to_owned(),
            prev: self.statements.get(name).cloned(),
        }
    }

    /// A portal's record as it is now, to put back with `undo`.
    pub fn portal_undo(&self, name: &str) -> Undo {
        Undo::Portal {
            name: name.to_owned(),
            prev: self.portals.get(name).cloned(),
        }
    }

    /// Put a record back as it was before a message that did not take effect.
    pub fn undo(&mut self, u: Undo) {
        let (map, name, prev) = match u {
            Undo::Statement { name, prev } => (&mut self.statements, name, prev),
            Undo::Portal { name, prev } => (&mut self.portals, name, prev),
            Undo::Portals(all) => {
                self.portals = all;
                return;
            }
        };
        match prev {
            Some(rec) => {
                map.insert(name, rec);
            }
            None => {
                map.remove(&name);
            }
        }
    }

    /// The transaction ended: its portals are gone. Returns how to put them back.
    pub fn end_portals(&mut self) -> Undo {
        Undo::Portals(std::mem::take(&mut self.portals))
    }

    /// The unnamed statement is gone, and the unnamed portal too when `portal` (a simple query
    /// ran). Cheap when there is nothing to forget, as in a session of simple queries.
    pub fn forget_unnamed(&mut self, portal: bool) {
        if !self.statements.is_empty() {
            self.statements.remove("");
        }
        if portal && !self.portals.is_empty() {
            self.portals.remove("");
        }
    }

    /// DISCARD ALL: everything is forgotten.
    pub fn clear(&mut self) {
        self.statements.clear();
        self.portals.clear();
    }
}

/// A record as it was before a forwarded Parse, Bind or Close changed it. The change is made
/// when the message is sent, so that the messages after it in a pipeline find it; it is put
/// back when PostgreSQL did not carry the message out: it failed, or an earlier message of its
/// Sync group failed and PostgreSQL skipped the rest up to Sync.
#[derive(Debug, Clone)]
pub enum Undo {
    Statement {
        name: String,
        prev: Option<Record>,
    },
    Portal {
        name: String,
        prev: Option<Record>,
    },
    /// Every portal (a transaction's end drops them all).
    Portals(HashMap<String, Record>),
}

/// What a queue entry waits for from each of its nodes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Awaits {
    /// ParseComplete.
    Parse,
    /// BindComplete.
    Bind,
    /// (ParameterDescription) then RowDescription or NoData.
    Describe,
    /// CommandComplete, EmptyQueryResponse or PortalSuspended (after rows or COPY).
    Execute,
    /// CloseComplete.
    Close,
    /// ReadyForQuery (Sync, a simple Query, FunctionCall, the start of a new session).
    Ready,
    /// Nothing: a reply pgpool makes itself, sent when the entry reaches the head.
    Local,
}

impl Awaits {
    /// Does `tag` (a whole backend message) end this entry's reply on one node?
    pub fn ends_with(self, tag: u8) -> bool {
        match self {
            Awaits::Parse => tag == b'1',
            Awaits::Bind => tag == b'2',
            Awaits::Describe => matches!(tag, b'T' | b'n'),
            Awaits::Execute => matches!(tag, b'C' | b'I' | b's'),
            Awaits::Close => tag == b'3',
            Awaits::Ready => tag == b'Z',
            Awaits::Local => true,
        }
    }

    /// Extended-protocol requests end at an ErrorResponse; the node then skips to Sync.
    pub fn is_extended(self) -> bool {
        !matches!(self, Awaits::Ready | Awaits::Local)
    }
}

/// One forwarded request whose replies are awaited.
#[derive(Debug)]
pub struct Entry {
    pub awaits: Awaits,
    /// The nodes it was sent to.
    pub nodes: NodeSet,
    /// The node whose reply the client sees; None = every reply is swallowed.
    pub fwd: Option<usize>,
    /// Nodes whose reply to this entry is complete.
    pub done: NodeSet,
    /// Nodes that answered with an ErrorResponse.
    pub errors: NodeSet,
    /// Nodes whose first reply message was looked at (for pgpool's log of a simple query
    /// answered first by an error or a notice; kept only while LOG records are written).
    pub started: NodeSet,
    /// The statement, for bookkeeping when the reply completes (Query, Execute).
    pub stmt: Option<Rc<Stmt>>,
    /// TSTATE(primary) when it was sent.
    pub tx_before: u8,
    /// A simple Query or FunctionCall (the client is not read until its ReadyForQuery).
    pub simple: bool,
    /// The bytes of a Local reply.
    pub local: Vec<u8>,
    /// How to put back the record this message changed, should it not take effect.
    pub undo: Option<Undo>,
    /// pgpool's own Execute that aborts a node's transaction: the error it gets is the point,
    /// not a backend error to count.
    pub abort: bool,
    /// The kind (tag) of each node's first reply message, notices aside, for nodes below
    /// `KINDS_KEPT` (0: none yet): the kind-mismatch report.
    pub kinds: [u8; KINDS_KEPT],
    /// Each node's ErrorResponse: its SQLSTATE and message, for the same report and for
    /// pgpool's error synchronisation.
    pub error_texts: Vec<(usize, String, String)>,
    /// Nodes whose reply began with a notice (pgpool looks at the first message only for
    /// the errors it synchronises).
    pub notice_first: NodeSet,
}

/// Nodes whose first reply kind an entry keeps (a mismatch on a higher node reports `?`).
pub const KINDS_KEPT: usize = 8;

impl Entry {
    pub fn new(awaits: Awaits, nodes: NodeSet, fwd: Option<usize>) -> Entry {
        Entry {
            awaits,
            nodes,
            fwd,
            done: NodeSet::EMPTY,
            errors: NodeSet::EMPTY,
            started: NodeSet::EMPTY,
            stmt: None,
            tx_before: b'I',
            simple: false,
            local: Vec::new(),
            undo: None,
            abort: false,
            kinds: [0; KINDS_KEPT],
            error_texts: Vec::new(),
            notice_first: NodeSet::EMPTY,
        }
    }

    pub fn local(bytes: Vec<u8>) -> Entry {
        Entry {
            local: bytes,
            ..Entry::new(Awaits::Local, NodeSet::EMPTY, None)
        }
    }
}
