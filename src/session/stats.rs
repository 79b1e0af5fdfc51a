//! Per-node statement and error counters kept in shared memory (select_cnt of SHOW pool_nodes,
//! SHOW pool_backend_stats): a cheap first-keyword classification of each simple query, and
//! the severity of each ErrorResponse a node sends.

use std::sync::atomic::Ordering::Relaxed;

use crate::shmem::BackendInfo;

/// The first keyword of `sql`, skipping white space, `--` and `/* */` comments and parentheses.
fn first_keyword(sql: &[u8]) -> &[u8] {
    let mut i = 0;
    while i < sql.len() {
        match sql[i] {
            b' ' | b'\t' | b'\n' | b'\r' | b'(' => i += 1,
            b'-' if sql.get(i + 1) == Some(&b'-') => {
                while i < sql.len() && sql[i] != b'\n' {
                    i += 1;
                }
            }
            b'/' if sql.get(i + 1) == Some(&b'*') => {
                i += 2;
                while i + 1 < sql.len() && !(sql[i] == b'*' && sql[i + 1] == b'/') {
                    i += 1;
                }
                i += 2;
            }
            _ => break,
        }
    }
    let start = i.min(sql.len());
    let end = sql[start..]
        .iter()
        .position(|b| !b.is_ascii_alphabetic())
        .map_or(sql.len(), |p| start + p);
    &sql[start..end]
}

/// Count one statement sent to a node.
pub fn count_statement(node: &BackendInfo, sql: &[u8]) {
    let kw = first_keyword(sql);
    let is = |w: &str| kw.eq_ignore_ascii_case(w.as_bytes());
    let s = &node.stats;
    let counter = if is("select") || is("with") || is("values") || is("table") {
        &s.select
    } else if is("insert") {
        &s.insert
    } else if is("update") {
        &s.update
    } else if is("delete") {
        &s.delete
    } else if is("create")
        || is("alter")
        || is("drop")
        || is("truncate")
        || is("comment")
        || is("grant")
        || is("revoke")
    {
        &s.ddl
    } else {
        &s.other
    };
    counter.fetch_add(1, Relaxed);
}

/// Count an ErrorResponse by its severity field.
pub fn count_error(node: &BackendInfo, body: &[u8]) {
    let sev = body
        .split(|&b| b == 0)
        .find(|f| f.first() == Some(&b'S'))
        .map(|f| &f[1..])
        .unwrap_or_default();
    let s = &node.stats;
    match sev {
        b"PANIC" => s.panic.fetch_add(1, Relaxed),
        b"FATAL" => s.fatal.fetch_add(1, Relaxed),
        _ => s.error.fetch_add(1, Relaxed),
    };
}

#[cfg(test)]
mod tests {
    use super::first_keyword;

    #[test]
    fn first_keyword_skips_space_and_comments() {
        assert_eq!(first_keyword(b"  select 1"), b"select");
        assert_eq!(first_keyword(b"/* x */ (SELECT 1)"), b"SELECT");
        assert_eq!(first_keyword(b"-- c\nINSERT INTO t"), b"INSERT");
        assert_eq!(first_keyword(b""), b"");
        assert_eq!(first_keyword(b"/*"), b"");
    }
}
