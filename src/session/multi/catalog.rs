//! Catalog facts the router asks for (spec/routing.md §7.3–§7.4): is a relation a system
//! catalog, a temporary or an unlogged table, is a function volatile, is the transaction
//! serializable. Answered from caches — per process for catalog, unlogged and volatility facts
//! (by database), per session for temporary tables — or by one internal query on the session's
//! primary connection (its load-balance node's with `relcache_query_target =
//! load_balance_node`, the temporary-table question then asked of the primary) that fetches
//! every missing fact of the statement at once. The query is
//! only sent while that connection has nothing in flight; otherwise the unknown fact is taken
//! as "yes", which sends the statement to the primary (always correct, never faster).

use crate::fasthash::FnvMap;
use std::rc::Rc;
use std::time::{Duration, Instant};

use crate::backend::internal::parse_data_row;
use crate::pool::BackendConn;
use crate::protocol::messages;
use crate::router::{Catalog, TempCheck};
use crate::sql::{Analysis, RelRef};

/// Longest wait for an internal query's answer.
const QUERY_TIMEOUT: Duration = Duration::from_secs(30);

/// Facts of one relation.
#[derive(Debug, Clone, Copy)]
struct RelFacts {
    catalog: bool,
    unlogged: bool,
    at: Instant,
}

/// Per-process cache, by database: at most `relcache_size` relations and as many functions
/// (emptied when full), each answer trusted for `relcache_expire` seconds (0 = for ever).
#[derive(Debug)]
pub struct RelCache {
    relations: FnvMap<String, FnvMap<RelRef, RelFacts>>,
    functions: FnvMap<String, FnvMap<String, (bool, Instant)>>,
    limit: usize,
    expire: Option<Duration>,
}

impl RelCache {
    /// The cache `relcache_size` and `relcache_expire` (seconds) describe.
    pub fn new(size: i64, expire_secs: i64) -> RelCache {
        RelCache {
            relations: FnvMap::default(),
            functions: FnvMap::default(),
            limit: size.max(0) as usize,
            expire: (expire_secs > 0).then(|| Duration::from_secs(expire_secs as u64)),
        }
    }

    fn bound(&mut self) {
        if self.relations.values().map(FnvMap::len).sum::<usize>() >= self.limit {
            self.relations.clear();
        }
        if self.functions.values().map(FnvMap::len).sum::<usize>() >= self.limit {
            self.functions.clear();
        }
    }

    /// Whether an answer cached at `at` still holds.
    fn fresh(&self, at: Instant) -> bool {
        self.expire.is_none_or(|e| at.elapsed() < e)
    }

    fn relation(&self, db: &str, r: &RelRef) -> Option<RelFacts> {
        self.relations
            .get(db)?
            .get(r)
            .copied()
            .filter(|f| self.fresh(f.at))
    }

    fn function(&self, db: &str, f: &str) -> Option<bool> {
        let &(volatile, at) = self.functions.get(db)?.get(f)?;
        self.fresh(at).then_some(volatile)
    }
}

impl Default for RelCache {
    /// pgpool's defaults: 256 entries, never expiring.
    fn default() -> RelCache {
        RelCache::new(256, 0)
    }
}

/// Temporary-table knowledge of one backend connection set. Temporary tables belong to the
/// backend session, so "not a temporary table" answers stay true while the pooled connection
/// lives and are kept for the next client of the slot (a CREATE TEMP TABLE, DROP TABLE or
/// DISCARD ALL seen in any session empties them); "is temporary" answers and the trace list end
/// with the client session (the reset discards temporary tables).
#[derive(Debug, Default)]
pub struct TempTables {
    /// catalog mode: looked-up answers.
    pub known: FnvMap<RelRef, bool>,
    /// trace mode: tables created by CREATE TEMP TABLE in this session.
    pub traced: TraceList,
    /// Statement shapes whose every relation and function was found to be a plain one (no
    /// catalog, temporary or unlogged table, no volatile function): later statements of the same
    /// shape skip the lookups (while the answers they rest on are fresh). Emptied with
    /// `known`.
    plain: Vec<(Rc<Analysis>, Instant)>,
}

/// trace mode (routing.md §7.4): the temporary tables the session created, and what its open
/// transaction did to them until it ends (committed, or rolled back, also by an error).
#[derive(Debug, Default)]
pub struct TraceList {
    tables: Vec<Traced>,
}

#[derive(Debug)]
struct Traced {
    name: String,
    /// created in the open transaction: gone again if it rolls back
    created_in_tx: bool,
    /// dropped in the open transaction: gone once it commits
    dropping: bool,
}

impl TraceList {
    /// A CREATE TEMP TABLE succeeded (`in_tx`: inside a transaction block).
    pub fn create(&mut self, name: &str, in_tx: bool) {
        self.tables.push(Traced {
            name: name.to_owned(),
            created_in_tx: in_tx,
            dropping: false,
        });
    }

    /// A DROP TABLE succeeded. Which table it dropped is not looked at (as in pgpool): every
    /// tracked table counts as dropped.
    pub fn drop_all(&mut self, in_tx: bool) {
        if in_tx {
            self.tables.iter_mut().for_each(|t| t.dropping = true);
        } else {
            self.tables.clear();
        }
    }

    /// The open transaction ended: its creations and drops stand (`commit`) or are undone.
    pub fn end(&mut self, commit: bool) {
        if commit {
            self.tables.retain(|t| !t.dropping);
            self.tables.iter_mut().for_each(|t| t.created_in_tx = false);
        } else {
            self.tables.retain(|t| !t.created_in_tx);
            self.tables.iter_mut().for_each(|t| t.dropping = false);
        }
    }

    /// Is `name` a tracked temporary table? One being dropped still counts until the drop is
    /// committed: its reads then go to the primary, which answers for it either way.
    pub fn contains(&self, name: &str) -> bool {
        self.tables
            .iter()
            .any(|t| t.name.eq_ignore_ascii_case(name))
    }

    pub fn clear(&mut self) {
        self.tables.clear();
    }
}

/// Shapes remembered as plain per connection set.
const PLAIN_LIMIT: usize = 32;

impl TempTables {
    /// What stays valid for the next client of the same pooled connections.
    pub fn for_next_session(mut self) -> TempTables {
        self.known.retain(|_, temp| !*temp);
        self.traced.clear();
        self
    }

    /// Temporary tables were created, dropped or discarded: forget what depended on them.
    pub fn changed(&mut self) {
        self.known.clear();
        self.plain.clear();
    }
}

/// One statement's catalog questions, answered for the router.
pub struct Lookup<'a> {
    /// The connection catalog questions go to (the primary's, or the load-balance node's with
    /// `relcache_query_target = load_balance_node`) when it is quiet (nothing in flight).
    pub conn: Option<&'a mut BackendConn>,
    /// The primary's connection when `conn` is another node's, for the questions only the
    /// primary answers: a temporary table exists on the primary only (pgpool asks it there
    /// too), and the transaction's isolation level was set there (the load-balance node's
    /// transaction is begun without it).
    primary_conn: Option<&'a mut BackendConn>,
    /// `conn` is another node's than the primary.
    elsewhere: bool,
    pub cache: &'a mut RelCache,
    pub temp: &'a mut TempTables,
    pub temp_check: TempCheck,
    pub database: &'a str,
    pub analysis: &'a Rc<Analysis>,
    /// NotificationResponse messages met while reading internal answers (for the client).
    pub out: &'a mut Vec<u8>,
    fetched: bool,
    /// The statement's shape is known to be plain: every catalog question is "no".
    plain: bool,
    /// A connection left out (`conn`, or the primary's for the temporary-table question) is
    /// busy only with replies still to come, inside a transaction block: once they are read it
    /// can be asked.
    waitable: bool,
    /// A question went unanswered that waiting for those replies would answer.
    pub wanted: bool,
}

impl<'a> Lookup<'a> {
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        conn: Option<&'a mut BackendConn>,
        cache: &'a mut RelCache,
        temp: &'a mut TempTables,
        temp_check: TempCheck,
        database: &'a str,
        analysis: &'a Rc<Analysis>,
        out: &'a mut Vec<u8>,
    ) -> Lookup<'a> {
        let plain = temp
            .plain
            .iter()
            .any(|(p, at)| Rc::ptr_eq(p, analysis) && cache.fresh(*at));
        Lookup {
            conn,
            primary_conn: None,
            elsewhere: false,
            cache,
            temp,
            temp_check,
            database,
            analysis,
            out,
            fetched: false,
            plain,
            waitable: false,
            wanted: false,
        }
    }

    /// The connections left out could be asked after waiting (see `wanted`).
    pub fn waitable(mut self, yes: bool) -> Lookup<'a> {
        self.waitable = yes;
        self
    }

    /// `conn` is another node's: ask the primary's questions on `primary` (quiet).
    pub fn primary_elsewhere(mut self, primary: Option<&'a mut BackendConn>) -> Lookup<'a> {
        self.primary_conn = primary;
        self.elsewhere = true;
        self
    }

    /// After the lookups: remember the shape when every answer is "no".
    fn note_if_plain(&mut self) {
        if self.plain || self.temp_check == TempCheck::Trace {
            return;
        }
        let a = &**self.analysis;
        let rels_plain = a.relations.iter().all(|r| {
            self.cache
                .relation(self.database, r)
                .is_some_and(|f| !f.catalog && !f.unlogged)
                && (self.temp_check == TempCheck::None || self.temp.known.get(r) == Some(&false))
        });
        let funcs_plain = a
            .functions
            .iter()
            .all(|f| self.cache.function(self.database, f) == Some(false));
        if rels_plain && funcs_plain {
            if self.temp.plain.len() >= PLAIN_LIMIT {
                self.temp.plain.remove(0);
            }
            self.temp
                .plain
                .retain(|(p, _)| !Rc::ptr_eq(p, self.analysis));
            self.temp
                .plain
                .push((self.analysis.clone(), Instant::now()));
            self.plain = true;
        }
    }

    /// Fetch every missing fact of the statement in one round trip (once per statement).
    fn fetch(&mut self) {
        if self.fetched {
            return;
        }
        self.fetched = true;
        self.fetch_missing();
        self.note_if_plain();
    }

    /// The batched internal query for the facts not cached yet.
    fn fetch_missing(&mut self) {
        if self.conn.as_ref().is_some_and(|c| c.tx == b'E') {
            return; // any query would fail and nothing else would run anyway
        }
        let rels: Vec<RelRef> = self
            .analysis
            .relations
            .iter()
            .filter(|r| {
                self.cache.relation(self.database, r).is_none()
                    || (self.temp_check == TempCheck::Catalog && !self.temp.known.contains_key(*r))
            })
            .cloned()
            .collect();
        let funcs: Vec<String> = self
            .analysis
            .functions
            .iter()
            .filter(|f| self.cache.function(self.database, f).is_none())
            .cloned()
            .collect();
        if rels.is_empty() && funcs.is_empty() {
            return;
        }
        let Some(conn) = self.conn.as_deref_mut() else {
            self.wanted |= self.waitable;
            return;
        };
        let mut queries = Vec::with_capacity(2);
        if !rels.is_empty() {
            queries.push(relations_sql(&rels));
        }
        if !funcs.is_empty() {
            let mut sql = String::new();
            sql.push_str("SELECT EXISTS (SELECT 1 FROM pg_catalog.pg_proc p JOIN pg_catalog.pg_namespace n ON n.oid = p.pronamespace WHERE p.proname = r.f AND (r.s IS NULL OR n.nspname = r.s) AND p.provolatile = 'v') FROM (VALUES ");
            for (i, f) in funcs.iter().enumerate() {
                if i > 0 {
                    sql.push(',');
                }
                let (schema, name) = match f.rsplit_once('.') {
                    Some((s, n)) => (quote_literal(s), quote_literal(n)),
                    None => ("NULL".to_owned(), quote_literal(f)),
                };
                sql.push_str(&format!("({i}, {schema}::text, {name}::text)"));
            }
            sql.push_str(") AS r(i, s, f) ORDER BY r.i");
            queries.push(sql);
        }
        let Ok(sets) = internal_queries(conn, &queries, self.out) else {
            return;
        };
        let mut sets = sets.into_iter();
        self.cache.bound();
        if !rels.is_empty() {
            let rows = sets.next().unwrap_or_default();
            for (r, row) in rels.iter().zip(rows) {
                let catalog = row.first().and_then(|v| v.as_deref()) == Some("t");
                let persistence = row.get(1).and_then(|v| v.as_deref()).unwrap_or("");
                self.cache
                    .relations
                    .entry(self.database.to_owned())
                    .or_default()
                    .insert(
                        r.clone(),
                        RelFacts {
                            catalog,
                            unlogged: persistence == "u",
                            at: Instant::now(),
                        },
                    );
                self.temp.known.insert(r.clone(), persistence == "t");
            }
            if self.temp_check == TempCheck::Catalog && self.elsewhere {
                self.temp_on_primary(&rels);
            }
        }
        if !funcs.is_empty() {
            let rows = sets.next().unwrap_or_default();
            for (f, row) in funcs.iter().zip(rows) {
                let volatile = row.first().and_then(|v| v.as_deref()) == Some("t");
                self.cache
                    .functions
                    .entry(self.database.to_owned())
                    .or_default()
                    .insert(f.clone(), (volatile, Instant::now()));
            }
        }
    }
}

impl Lookup<'_> {
    /// When the catalog questions went to another node: the relations' temporary status from
    /// the primary (unknown, so "temporary", when it cannot be asked).
    fn temp_on_primary(&mut self, rels: &[RelRef]) {
        let Some(conn) = self.primary_conn.as_deref_mut() else {
            self.wanted |= self.waitable;
            return;
        };
        let rows = if conn.tx == b'E' {
            None
        } else {
            internal_query(conn, &relations_sql(rels), self.out)
                .ok()
                .and_then(|sets| sets.into_iter().next())
        };
        match rows {
            Some(rows) => {
                for (r, row) in rels.iter().zip(rows) {
                    let persistence = row.get(1).and_then(|v| v.as_deref()).unwrap_or("");
                    self.temp.known.insert(r.clone(), persistence == "t");
                }
            }
            None => rels.iter().for_each(|r| {
                self.temp.known.remove(r);
            }),
        }
    }
}

/// The internal query for relations' facts: per relation (in order) whether it is in
/// `pg_catalog` and its `relpersistence` (NULLs for an unknown name).
fn relations_sql(rels: &[RelRef]) -> String {
    let mut sql = String::from("SELECT n.nspname = 'pg_catalog', c.relpersistence FROM (VALUES ");
    for (i, r) in rels.iter().enumerate() {
        if i > 0 {
            sql.push(',');
        }
        let name = match &r.schema {
            Some(s) => format!("{}.{}", quote_ident(s), quote_ident(&r.name)),
            None => quote_ident(&r.name),
        };
        sql.push_str(&format!("({i}, {})", quote_literal(&name)));
    }
    sql.push_str(
        ") AS r(i, name) LEFT JOIN pg_catalog.pg_class c ON c.oid = \
         pg_catalog.to_regclass(r.name) LEFT JOIN pg_catalog.pg_namespace n ON \
         n.oid = c.relnamespace ORDER BY r.i",
    );
    sql
}

impl Catalog for Lookup<'_> {
    fn is_system_catalog(&mut self, rel: &RelRef) -> bool {
        if self.plain {
            return false;
        }
        self.fetch();
        self.cache
            .relation(self.database, rel)
            .is_none_or(|f| f.catalog)
    }

    fn is_temp_table(&mut self, rel: &RelRef) -> bool {
        match self.temp_check {
            TempCheck::None => false,
            TempCheck::Trace => self.temp.traced.contains(&rel.name),
            TempCheck::Catalog => {
                if self.plain {
                    return false;
                }
                self.fetch();
                self.temp.known.get(rel).copied().unwrap_or(true)
            }
        }
    }

    fn is_unlogged_table(&mut self, rel: &RelRef) -> bool {
        if self.plain {
            return false;
        }
        self.fetch();
        self.cache
            .relation(self.database, rel)
            .is_none_or(|f| f.unlogged)
    }

    fn is_volatile_function(&mut self, name: &str) -> bool {
        if self.plain {
            return false;
        }
        self.fetch();
        self.cache.function(self.database, name).unwrap_or(true)
    }

    fn transaction_is_serializable(&mut self) -> Option<bool> {
        let conn = if self.elsewhere {
            self.primary_conn.as_deref_mut()
        } else {
            self.conn.as_deref_mut()
        };
        let Some(conn) = conn else {
            self.wanted |= self.waitable;
            return None;
        };
        if conn.tx == b'E' {
            return Some(true);
        }
        let level = internal_query(
            conn,
            "SELECT pg_catalog.current_setting('transaction_isolation')",
            self.out,
        );
        // a failed question counts as serializable: the read stays on the primary
        Some(level.map_or(true, |sets| {
            sets.first()
                .and_then(|rows| rows.first())
                .and_then(|row| row.first())
                .and_then(|v| v.as_deref())
                == Some("serializable")
        }))
    }
}

/// `"name"` with embedded quotes doubled.
pub fn quote_ident(s: &str) -> String {
    format!("\"{}\"", s.replace('"', "\"\""))
}

/// `'text'` with embedded quotes doubled.
pub fn quote_literal(s: &str) -> String {
    format!("'{}'", s.replace('\'', "''"))
}

/// Result sets of an internal query: rows of text values.
pub type ResultSets = Vec<Vec<Vec<Option<String>>>>;

/// The statement and portal name of pgpool's own queries.
const INTERNAL: &[u8] = b"pgpool_rs_internal";

/// Run `sql` (one statement) on a quiet connection: `internal_queries` with one query.
pub fn internal_query(
    be: &mut BackendConn,
    sql: &str,
    out: &mut Vec<u8>,
) -> Result<ResultSets, ()> {
    internal_queries(be, &[sql], out)
}

/// Run `queries` (one statement each) on a quiet connection and read every message up to the
/// ReadyForQuery: a result set per query. Notifications met on the way are kept for the client;
/// an ErrorResponse makes it Err (after ReadyForQuery, so the connection stays in step).
///
/// Each goes as Parse, Bind, Execute and Close of a statement and a portal of pgpool's own
/// name, one Sync after the last: a simple Query would drop the client's unnamed statement
/// and portal, which the client may still use. A leftover of that name (an earlier internal
/// query that failed halfway) is closed first.
pub fn internal_queries(
    be: &mut BackendConn,
    queries: &[impl AsRef<str>],
    out: &mut Vec<u8>,
) -> Result<ResultSets, ()> {
    let mut q = Vec::with_capacity(256);
    let close = |q: &mut Vec<u8>| {
        for kind in [b'P', b'S'] {
            let start = messages::begin(q, b'C');
            q.push(kind);
            messages::put_cstr(q, INTERNAL);
            messages::finish(q, start);
        }
    };
    close(&mut q);
    for sql in queries {
        let start = messages::begin(&mut q, b'P');
        messages::put_cstr(&mut q, INTERNAL);
        messages::put_cstr(&mut q, sql.as_ref().as_bytes());
        q.extend_from_slice(&0u16.to_be_bytes()); // no parameter types
        messages::finish(&mut q, start);
        let start = messages::begin(&mut q, b'B');
        messages::put_cstr(&mut q, INTERNAL);
        messages::put_cstr(&mut q, INTERNAL);
        // no parameter formats, no parameters, all results in text
        q.extend_from_slice(&[0, 0, 0, 0, 0, 0]);
        messages::finish(&mut q, start);
        let start = messages::begin(&mut q, b'E');
        messages::put_cstr(&mut q, INTERNAL);
        q.extend_from_slice(&0u32.to_be_bytes()); // every row
        messages::finish(&mut q, start);
        close(&mut q);
    }
    messages::sync(&mut q);
    be.conn.write_all(&q).map_err(|_| ())?;
    let mut sets: ResultSets = Vec::new();
    let mut current: Vec<Vec<Option<String>>> = Vec::new();
    let mut failed = false;
    loop {
        let m = be
            .conn
            .read_message(1 << 30, Some(QUERY_TIMEOUT))
            .map_err(|_| ())?;
        match m.tag {
            b'D' => current.push(parse_data_row(&m.body).map_err(|_| ())?),
            b'C' => sets.push(std::mem::take(&mut current)),
            b'E' => failed = true,
            b'A' => {
                let start = messages::begin(out, b'A');
                out.extend_from_slice(&m.body);
                messages::finish(out, start);
            }
            b'S' => {
                if let Ok((k, v)) = messages::parse_parameter_status(&m.body) {
                    match be.params.iter_mut().find(|(n, _)| n.as_str() == k) {
                        Some(p) => p.1 = v.into_owned(),
                        None => be.params.push((k.into_owned(), v.into_owned())),
                    }
                }
            }
            b'Z' => {
                be.tx = m.body.first().copied().unwrap_or(b'I');
                return if failed { Err(()) } else { Ok(sets) };
            }
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quoting_doubles_embedded_quotes() {
        assert_eq!(quote_ident("a\"b"), "\"a\"\"b\"");
        assert_eq!(quote_literal("it's"), "'it''s'");
    }
}
