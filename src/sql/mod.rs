//! SQL parsing for routing (spec/routing.md §3–§4, §7): one parser (PostgreSQL's own, through
//! the `pg_query` crate) behind a small interface. `analyze` turns a statement string into an
//! `Analysis` — the facts the router decides on — and caches it per normalized text, so a
//! statement that differs from an earlier one only in its literals is not parsed again.
//!
//! Parts: `key` (the normalized cache key), `cache` (the per-process cache), `walk` (whole-tree
//! facts: relations, functions …), `classify` (family, class, read-only), `settings` (SET,
//! transaction modes, EXPLAIN options).

mod analysis;
mod cache;
mod classify;
mod key;
mod settings;
mod walk;

#[cfg(test)]
mod tests;

pub use analysis::{Analysis, Class, DiscardKind, Kind, RelRef};

use std::rc::Rc;

use pg_query::NodeEnum;

/// Analyze `sql` (the text of a Query message or of a Parse message). Never fails: an empty
/// string is a dummy read-only SELECT, an unparsable one a dummy write (`Analysis::empty`,
/// `Analysis::unparsable`).
///
/// Comments, spacing, keyword case and literal values do not take part in the cache key (the
/// analysis does not depend on them; the router applies its comment rule to the raw text), except
/// where the analysis depends on a literal (`Analysis::literal_dependent`): such an analysis is
/// only reused for the identical text.
pub fn analyze(sql: &str) -> Rc<Analysis> {
    cache::get_or_insert(sql, analyze_uncached)
}

/// The highest `$n` parameter number in `sql` (0 when it has none, or when it cannot be
/// scanned): the number of parameters PostgreSQL gives a statement parsed without declared
/// types.
pub fn highest_parameter(sql: &str) -> usize {
    let Ok(tokens) = pg_query::scan_tokens(sql) else {
        return 0;
    };
    tokens
        .iter()
        .filter(|t| t.token == pg_query::protobuf::Token::Param as i32)
        .filter_map(|t| sql.get(t.start as usize + 1..t.end as usize)?.parse().ok())
        .max()
        .unwrap_or(0)
}

/// Parse and analyze without the cache. A tree nested deeper than the protobuf decoder's limit
/// (about 45 levels of expression, e.g. `1 + 1 + … + 1` with 45 terms) fails to decode and is
/// treated like an unparsable string: routed to the primary, where it runs normally.
fn analyze_uncached(sql: &str) -> Analysis {
    #[cfg(test)]
    tests::count_parse();
    let parsed = match pg_query::parse(sql, pg_query::ParserOptions::default()) {
        Ok(parsed) => parsed,
        Err(pg_query::Error::Decode(_)) => return Analysis::undecodable_statement(),
        Err(_) => return Analysis::unparsable_statement(),
    };
    let stmts = &parsed.protobuf.stmts;
    let node = |i: usize| stmts.get(i)?.stmt.as_ref()?.node.as_ref();
    let Some(first) = node(0) else {
        return Analysis::empty_statement();
    };
    let mut analysis = classify::analyze_statement(first);
    analysis.multi = stmts.len() > 1;
    analysis.later_prepares = (1..stmts.len())
        .filter_map(|i| match node(i) {
            Some(NodeEnum::PrepareStmt(p)) => Some(p.name.clone()),
            _ => None,
        })
        .collect();
    analysis
}
