//! The session flags that steer later decisions (routing.md §6): W and RW after a successful
//! write, their reset at transaction boundaries per `disable_load_balance_on_write`, the failed
//! transaction flag, the serializable isolation level, and dml_adaptive's list of objects
//! written in the current transaction (with `dml_adaptive_object_relationship_list`).

use super::{Catalog, LbOnWrite, Router, SessionRoute};
use crate::sql::{Analysis, Kind};

/// One side of a `dml_adaptive_object_relationship_list` pair.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Object {
    /// Written as `name`: a relation (lower case).
    Relation(String),
    /// Written as `name()`: a function (lower case, parentheses stripped).
    Function(String),
}

impl Object {
    fn parse(token: &str) -> Option<Object> {
        let t = token.trim().to_lowercase();
        if let Some(f) = t.strip_suffix("()") {
            let f = f.trim();
            (!f.is_empty()).then(|| Object::Function(f.to_string()))
        } else {
            (!t.is_empty()).then_some(Object::Relation(t))
        }
    }

    fn name(&self) -> &str {
        match self {
            Object::Relation(n) | Object::Function(n) => n,
        }
    }
}

/// Parse `left:right,…`; malformed pairs are skipped with a WARNING.
pub fn parse_relationships(raw: &str) -> Vec<(Object, Object)> {
    let mut out = Vec::new();
    for item in raw.split(',').map(str::trim).filter(|i| !i.is_empty()) {
        let pair = item
            .split_once(':')
            .and_then(|(l, r)| Some((Object::parse(l)?, Object::parse(r)?)));
        match pair {
            Some(p) => out.push(p),
            None => crate::pglog!(
                crate::logger::Severity::Warning,
                "invalid entry \"{}\" in \"dml_adaptive_object_relationship_list\", skipping it",
                item
            ),
        }
    }
    out
}

fn remember(st: &mut SessionRoute, name: &str) {
    if !st.dml_written.iter().any(|n| n == name) {
        st.dml_written.push(name.to_string());
    }
}

impl Router {
    /// §6.3 bookkeeping, run for every statement routed in SL modes with dml_adaptive.
    pub(super) fn dml_bookkeeping(&self, st: &mut SessionRoute, a: &Analysis, text: &str) {
        if self.lb_on_write != LbOnWrite::DmlAdaptive {
            return;
        }
        match a.kind {
            Kind::Begin => {
                st.dml_in_tx = true;
                st.dml_written.clear();
            }
            // [FAITHFUL] ROLLBACK TO ends the tracking like a transaction end.
            Kind::Commit | Kind::Rollback | Kind::RollbackTo => {
                st.dml_in_tx = false;
                st.dml_written.clear();
            }
            _ => {}
        }
        if self.is_select_query(a, text) {
            return;
        }
        for rel in &a.relations {
            let name = rel.name.to_lowercase();
            remember(st, &name);
            if st.dml_in_tx {
                for (left, right) in &self.dml_relationships {
                    if *left == Object::Relation(name.clone()) {
                        remember(st, right.name());
                    }
                }
            }
        }
    }

    /// `func():obj` relationships of a function called inside a transaction (§6.3).
    pub(super) fn add_function_dependents(&self, st: &mut SessionRoute, func: &str) {
        let func = func.to_lowercase();
        let bare = func.rsplit('.').next().unwrap_or(&func).to_string();
        for (left, right) in &self.dml_relationships {
            if let Object::Function(f) = left {
                if *f == func || *f == bare {
                    remember(st, right.name());
                }
            }
        }
    }

    /// Is `a` a write for the W flag (routing.md §6.1): not a read-only SELECT per §7.1 or
    /// calling a writing function, and not one of the READ ONLY settings?
    pub fn is_write(&self, a: &Analysis, text: &str, cat: &mut dyn Catalog) -> bool {
        if a.sets_read_only {
            return false;
        }
        !self.is_select_query(a, text) || self.contains_writing_function(a, None, cat)
    }

    /// W is cleared at transaction boundaries except in `trans_transaction` and `always`.
    fn clear_on_boundary(&self, st: &mut SessionRoute) {
        if !matches!(
            self.lb_on_write,
            LbOnWrite::TransTransaction | LbOnWrite::Always
        ) {
            st.writing = false;
        }
        st.really_writing = false;
        st.failed = false;
        st.serializable = None;
    }

    /// routing.md §6.1: a statement completed successfully. `primary_tx` is TSTATE(primary)
    /// before the statement's own effect (the caller passes 'T' for statements inside a
    /// transaction block).
    pub fn after_success(
        &self,
        st: &mut SessionRoute,
        a: &Analysis,
        text: &str,
        primary_tx: u8,
        cat: &mut dyn Catalog,
    ) {
        match a.kind {
            Kind::Begin => self.clear_on_boundary(st),
            Kind::Commit | Kind::Rollback => {
                self.clear_on_boundary(st);
                st.multi_tx = false;
            }
            Kind::RollbackTo => self.clear_on_boundary(st),
            _ if a.sets_serializable => st.serializable = Some(true),
            // 2PC: the session closes the other nodes' transactions; no flag changes here.
            Kind::TwoPhase => {}
            _ => {
                if (primary_tx == b'T' || self.lb_on_write == LbOnWrite::Always)
                    && self.is_write(a, text, cat)
                {
                    if !matches!(self.lb_on_write, LbOnWrite::Off | LbOnWrite::DmlAdaptive) {
                        st.writing = true;
                    }
                    if primary_tx == b'T' {
                        st.really_writing = true;
                    }
                }
            }
        }
    }

    /// routing.md §6.1: an ErrorResponse arrived while TSTATE(primary) was `primary_tx`.
    pub fn after_error(&self, st: &mut SessionRoute, primary_tx: u8) {
        if primary_tx != b'I' {
            st.failed = true;
        }
    }
}
