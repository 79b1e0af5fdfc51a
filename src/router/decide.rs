//! The destination of one statement (routing.md §7.2 for streaming/logical/slony, §10.1 for
//! native replication and snapshot isolation, raw → main): the class-BOTH expansion (§4.2), the
//! multi-statement narrowing (§4.3), the read-only test with its first-character rule (§7.1) and
//! the chain of reasons that keep a read on the primary (catalog, temp, unlogged, pattern list,
//! writing function, dml_adaptive, replication delay).

use rand::RngCore;

use super::select::home;
use super::{
    Catalog, Decision, LbOnWrite, Mode, NodeSet, NodeView, Router, SessionRoute, TempCheck,
};
use crate::sql::{Analysis, Class, Kind};

/// C `isspace` in the "C" locale.
fn is_c_space(c: char) -> bool {
    matches!(c, ' ' | '\t' | '\n' | '\r' | '\x0b' | '\x0c')
}

/// A decision for `nodes` restricted to the usable nodes (never empty: the home node at worst).
fn decision(view: &NodeView<'_>, nodes: NodeSet) -> Decision {
    let mut nodes = NodeSet(nodes.0 & view.usable.0);
    if nodes.is_empty() {
        nodes = NodeSet::single(home(view));
    }
    Decision {
        nodes,
        main: nodes.first().expect("a decision set is never empty"),
    }
}

fn only(view: &NodeView<'_>, node: usize) -> Decision {
    decision(view, NodeSet::single(node))
}

impl Router {
    /// §7.1 first-character rule on the raw text (only when `allow_sql_comments` is off).
    pub fn text_looks_read_only(&self, text: &str) -> bool {
        if self.allow_sql_comments {
            return true;
        }
        let t = if self.ignore_leading_white_space {
            text.trim_start_matches(is_c_space)
        } else {
            text
        };
        match t.as_bytes().first() {
            None => true,
            Some(b) => b"sS(wWtT;".contains(b),
        }
    }

    /// §7.1 `is_select_query`: the analyzer's parse-tree verdict plus, for a SELECT (not inside
    /// a PREPARE), the first-character rule.
    pub fn is_select_query(&self, a: &Analysis, text: &str) -> bool {
        if !a.read_only {
            return false;
        }
        match a.kind {
            Kind::Select => self.text_looks_read_only(text),
            _ => true,
        }
    }

    /// §7.3: does the statement call a writing function? With dml_adaptive inside a
    /// transaction, also records the objects that `func():obj` relationships name (§6.3).
    pub(super) fn contains_writing_function(
        &self,
        a: &Analysis,
        st: Option<&mut SessionRoute>,
        cat: &mut dyn Catalog,
    ) -> bool {
        if let Some(st) = st {
            if self.lb_on_write == LbOnWrite::DmlAdaptive && st.dml_in_tx {
                for f in &a.functions {
                    self.add_function_dependents(st, f);
                }
            }
        }
        a.functions.iter().any(|f| self.function_writes(f, cat))
    }

    fn function_writes(&self, f: &str, cat: &mut dyn Catalog) -> bool {
        if !self.read_only_functions.is_empty() {
            !super::patterns::any_match(&self.read_only_functions, f)
        } else if !self.write_functions.is_empty() {
            super::patterns::any_match(&self.write_functions, f)
        } else {
            cat.is_volatile_function(f)
        }
    }

    /// Isolation level of the current transaction, asked once per transaction (not kept when
    /// it could not be asked: then serializable, for this statement).
    fn serializable(st: &mut SessionRoute, cat: &mut dyn Catalog) -> bool {
        match st.serializable {
            Some(s) => s,
            None => {
                let s = cat.transaction_is_serializable();
                st.serializable = s;
                s.unwrap_or(true)
            }
        }
    }

    /// The §7.2 inner chain: must this read-only statement stay on the primary?
    fn read_needs_primary(
        &self,
        st: &mut SessionRoute,
        a: &Analysis,
        text: &str,
        cat: &mut dyn Catalog,
    ) -> bool {
        if a.relations.iter().any(|r| cat.is_system_catalog(r)) {
            return true;
        }
        if self.check_temp_table != TempCheck::None
            && a.relations.iter().any(|r| cat.is_temp_table(r))
        {
            return true;
        }
        if self.check_unlogged_table && a.relations.iter().any(|r| cat.is_unlogged_table(r)) {
            return true;
        }
        if !self.primary_patterns.is_empty() {
            let unquoted = text.replace('"', "");
            if super::patterns::any_match(&self.primary_patterns, &unquoted) {
                return true;
            }
        }
        if self.contains_writing_function(a, Some(st), cat) {
            return true;
        }
        self.lb_on_write == LbOnWrite::DmlAdaptive
            && st.dml_in_tx
            && a.relations.iter().any(|r| {
                let name = r.name.to_lowercase();
                st.dml_written.contains(&name)
            })
    }

    /// The load-balance step of §7.2 (statement-level choice, delay check).
    fn load_balance(
        &self,
        view: &NodeView<'_>,
        st: &mut SessionRoute,
        rng: &mut dyn RngCore,
    ) -> Decision {
        if self.statement_level_load_balance {
            st.lb_node = self.select_load_balancing_node(
                view,
                &st.user,
                &st.database,
                &st.application_name,
                rng,
            );
        }
        if self.delay_exceeded(view, st.lb_node) {
            if self.prefer_lower_delay {
                st.lb_node = self.select_load_balancing_node(
                    view,
                    &st.user,
                    &st.database,
                    &st.application_name,
                    rng,
                );
            } else {
                return only(view, view.primary);
            }
        }
        if view.usable.contains(st.lb_node) {
            only(view, st.lb_node)
        } else {
            only(view, view.primary)
        }
    }

    /// routing.md §4.2: the nodes of class BOTH for this session.
    pub fn expand_all(&self, view: &NodeView<'_>, st: &SessionRoute) -> NodeSet {
        match self.mode {
            Mode::Raw => NodeSet::single(home(view)),
            Mode::Streaming | Mode::Logical => {
                let mut set = NodeSet::single(home(view));
                if self.load_balance {
                    if self.statement_level_load_balance {
                        set = view.usable;
                    } else if view.usable.contains(st.lb_node) {
                        set.insert(st.lb_node);
                    }
                }
                NodeSet(set.0 & view.usable.0)
            }
            // slony is no SL mode here: every valid node (routing.md §4.2 "other modes")
            Mode::Slony | Mode::Native | Mode::SnapshotIsolation => view.usable,
        }
    }

    /// routing.md §2, §4, §7, §8: the destination of a statement. Raw mode: `{view.primary}`
    /// (pass the main node as primary). SL modes: a multi-statement string goes to the primary;
    /// otherwise §7.2 (dml_adaptive bookkeeping, class, flags, read-only test, catalog tests,
    /// pattern list, writing functions, delay). Native/snapshot isolation: §10.1 without
    /// snapshot isolation's `transaction_read_only` shortcut.
    ///
    /// Not for EXECUTE/DEALLOCATE name, which the session answers from its records.
    /// `primary_tx` is TSTATE(primary). Updates `st` (dml_adaptive bookkeeping, the
    /// load-balance node with `statement_level_load_balance` or `prefer_lower_delay_standby`;
    /// the redirect lists then match `st.user`/`st.database`/`st.application_name`).
    #[allow(clippy::too_many_arguments)]
    pub fn route(
        &self,
        view: &NodeView<'_>,
        st: &mut SessionRoute,
        a: &Analysis,
        text: &str,
        primary_tx: u8,
        cat: &mut dyn Catalog,
        rng: &mut dyn RngCore,
    ) -> Decision {
        match self.mode {
            Mode::Raw => only(view, view.primary),
            Mode::Native | Mode::SnapshotIsolation => {
                self.decide_native(view, st, a, text, primary_tx, cat, rng)
            }
            Mode::Streaming | Mode::Logical | Mode::Slony => {
                if a.multi {
                    return only(view, view.primary);
                }
                self.dml_bookkeeping(st, a, text);
                self.decide_sl(view, st, a, text, primary_tx, cat, rng)
            }
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn decide_sl(
        &self,
        view: &NodeView<'_>,
        st: &mut SessionRoute,
        a: &Analysis,
        text: &str,
        primary_tx: u8,
        cat: &mut dyn Catalog,
        rng: &mut dyn RngCore,
    ) -> Decision {
        match a.class {
            Class::Primary => return only(view, view.primary),
            // (the multi-statement transaction's narrowing is the SL modes', routing.md §4.3)
            Class::Both if st.multi_tx && self.mode != Mode::Slony => {
                return only(view, view.primary)
            }
            Class::Both => return decision(view, self.expand_all(view, st)),
            Class::Either => {}
        }
        if st.writing && self.lb_on_write == LbOnWrite::Always {
            return only(view, view.primary);
        }
        if !self.load_balance || !self.is_select_query(a, text) {
            return only(view, view.primary);
        }
        let may_balance =
            primary_tx == b'I' || (!st.writing && !st.failed && !Self::serializable(st, cat));
        if !may_balance || self.read_needs_primary(st, a, text, cat) {
            return only(view, view.primary);
        }
        self.load_balance(view, st, rng)
    }

    /// §10.1, without snapshot isolation's `transaction_read_only` shortcut.
    #[allow(clippy::too_many_arguments)]
    fn decide_native(
        &self,
        view: &NodeView<'_>,
        st: &mut SessionRoute,
        a: &Analysis,
        text: &str,
        primary_tx: u8,
        cat: &mut dyn Catalog,
        rng: &mut dyn RngCore,
    ) -> Decision {
        let main = view.usable.first().unwrap_or(view.primary);
        if a.multi {
            return decision(view, view.usable);
        }
        let select = self.is_select_query(a, text);
        if self.load_balance && select {
            if self.replicate_select || self.contains_writing_function(a, None, cat) {
                return decision(view, view.usable);
            }
            let may_balance =
                primary_tx == b'I' || (!st.writing && !st.failed && !Self::serializable(st, cat));
            if !may_balance {
                return only(view, main);
            }
            if self.statement_level_load_balance {
                st.lb_node = self.select_load_balancing_node(
                    view,
                    &st.user,
                    &st.database,
                    &st.application_name,
                    rng,
                );
            }
            return if view.usable.contains(st.lb_node) {
                only(view, st.lb_node)
            } else {
                only(view, main)
            };
        }
        if select && !self.replicate_select && !self.contains_writing_function(a, None, cat) {
            only(view, main)
        } else {
            decision(view, view.usable)
        }
    }
}
