//! SQL parsing for routing (spec/routing.md §3–§4, §7): one parser (PostgreSQL's own, through
//! the `pg_query` crate) behind a small interface. `analyze` turns a statement string into an
//! `Analysis` — the facts the router decides on — and caches it per normalized text, so a
//! statement that differs from an earlier one only in its literals is not parsed again.

mod analysis;

pub use analysis::{Analysis, Class, DiscardKind, Kind, RelRef};

use std::rc::Rc;

/// Analyze `sql` (the text of a Query message or of a Parse message). Never fails: an empty
/// string is a dummy read-only SELECT, an unparsable one a dummy write (`Analysis::empty`,
/// `Analysis::unparsable`).
pub fn analyze(sql: &str) -> Rc<Analysis> {
    let _ = sql;
    todo!("sql::analyze")
}
