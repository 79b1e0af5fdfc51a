//! Reading settings out of statements: the transaction modes of BEGIN / START TRANSACTION /
//! SET TRANSACTION / SET SESSION CHARACTERISTICS, the value of `SET name = value`, the options
//! of EXPLAIN, and PostgreSQL's spelling of booleans.

use pg_query::protobuf::{a_const, DefElem, Node};
use pg_query::NodeEnum;

/// Transaction modes named in a `transaction_mode_list` (as DefElems, the way the grammar
/// builds them: `transaction_isolation` = 'level', `transaction_read_only` = 1 or 0).
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub(super) struct TxModes {
    pub serializable: bool,
    pub read_write: bool,
    pub read_only: bool,
}

pub(super) fn tx_modes(options: &[Node]) -> TxModes {
    let mut modes = TxModes::default();
    for elem in def_elems(options) {
        let value = elem.arg.as_deref().and_then(const_text);
        match (elem.defname.as_str(), value.as_deref()) {
            ("transaction_isolation", Some(level)) => {
                modes.serializable |= level.eq_ignore_ascii_case("serializable")
            }
            ("transaction_read_only", Some(flag)) => match parse_bool(flag) {
                Some(true) => modes.read_only = true,
                Some(false) => modes.read_write = true,
                None => {}
            },
            _ => {}
        }
    }
    modes
}

/// The DefElems of an option list.
pub(super) fn def_elems(options: &[Node]) -> impl Iterator<Item = &DefElem> {
    options.iter().filter_map(|n| match n.node.as_ref() {
        Some(NodeEnum::DefElem(d)) => Some(&**d),
        _ => None,
    })
}

/// The text of a constant as PostgreSQL would hand it to a setting: an A_Const (string,
/// integer, float, boolean) or a bare String/Integer/Float value node (EXPLAIN options).
pub(super) fn const_text(node: &Node) -> Option<String> {
    match node.node.as_ref()? {
        NodeEnum::AConst(c) => match c.val.as_ref()? {
            a_const::Val::Sval(s) => Some(s.sval.clone()),
            a_const::Val::Ival(i) => Some(i.ival.to_string()),
            a_const::Val::Fval(f) => Some(f.fval.clone()),
            a_const::Val::Boolval(b) => Some(b.boolval.to_string()),
            a_const::Val::Bsval(_) => None,
        },
        NodeEnum::String(s) => Some(s.sval.clone()),
        NodeEnum::Integer(i) => Some(i.ival.to_string()),
        NodeEnum::Float(f) => Some(f.fval.clone()),
        NodeEnum::Boolean(b) => Some(b.boolval.to_string()),
        _ => None,
    }
}

/// PostgreSQL's `parse_bool`: `t`/`true`, `y`/`yes`, `on`, `1` and `f`/`false`, `n`/`no`,
/// `off`, `0`, case-insensitive, any unambiguous prefix of the words.
pub(super) fn parse_bool(value: &str) -> Option<bool> {
    let v = value.trim().to_ascii_lowercase();
    let prefix_of = |word: &str, min: usize| v.len() >= min && word.starts_with(v.as_str());
    if v == "1" {
        Some(true)
    } else if v == "0" {
        Some(false)
    } else if prefix_of("true", 1) || prefix_of("yes", 1) || v == "on" {
        Some(true)
    } else if prefix_of("false", 1) || prefix_of("no", 1) || prefix_of("off", 2) {
        Some(false)
    } else {
        None
    }
}

/// The routing-relevant reading of a `VariableSetStmt`.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub(super) struct SetFacts {
    /// Goes to the primary only (READ WRITE, read_only = off, serializable).
    pub primary: bool,
    pub serializable: bool,
    pub read_only: bool,
}

/// `kind`, `name` and `args` of a VariableSetStmt.
pub(super) fn set_facts(kind: VarSetKind, name: &str, args: &[Node]) -> SetFacts {
    let mut facts = SetFacts::default();
    match kind {
        VarSetKind::Value => {
            let value = args.first().and_then(const_text);
            let value = value.as_deref().unwrap_or("");
            if name.eq_ignore_ascii_case("transaction_read_only") {
                match parse_bool(value) {
                    Some(false) => facts.primary = true,
                    Some(true) => facts.read_only = true,
                    None => {}
                }
            } else if name.eq_ignore_ascii_case("transaction_isolation")
                || name.eq_ignore_ascii_case("default_transaction_isolation")
            {
                facts.serializable = value.eq_ignore_ascii_case("serializable");
                facts.primary = facts.serializable;
            }
        }
        VarSetKind::Multi
            if name.eq_ignore_ascii_case("TRANSACTION")
                || name.eq_ignore_ascii_case("SESSION CHARACTERISTICS") =>
        {
            let modes = tx_modes(args);
            facts.serializable = modes.serializable;
            facts.read_only = modes.read_only;
            facts.primary = modes.serializable || modes.read_write;
        }
        _ => {}
    }
    facts
}

/// The VariableSetStmt kinds that matter here.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum VarSetKind {
    /// `SET name = value` / `TO value`.
    Value,
    /// `SET TRANSACTION …`, `SET SESSION CHARACTERISTICS …`, `SET TRANSACTION SNAPSHOT …`.
    Multi,
    /// DEFAULT, FROM CURRENT, RESET, RESET ALL.
    Other,
}

impl VarSetKind {
    pub(super) fn from_proto(kind: i32) -> VarSetKind {
        use pg_query::protobuf::VariableSetKind as K;
        match K::try_from(kind) {
            Ok(K::VarSetValue) => VarSetKind::Value,
            Ok(K::VarSetMulti) => VarSetKind::Multi,
            _ => VarSetKind::Other,
        }
    }
}

/// EXPLAIN's ANALYZE option: `ANALYZE`, `(ANALYZE)`, `(ANALYZE on|true|1|…)`. The second value
/// says whether an option carried a value (then the reading depends on a literal).
pub(super) fn explain_analyze(options: &[Node]) -> (bool, bool) {
    let mut analyze = false;
    let mut valued = false;
    for elem in def_elems(options) {
        valued |= elem.arg.is_some();
        if elem.defname.eq_ignore_ascii_case("analyze") {
            analyze = match elem.arg.as_deref() {
                None => true,
                Some(arg) => const_text(arg)
                    .and_then(|v| parse_bool(&v))
                    .unwrap_or(false),
            };
        }
    }
    (analyze, valued)
}

#[cfg(test)]
mod tests {
    use super::parse_bool;

    #[test]
    fn parse_bool_follows_postgresql() {
        for t in ["on", "ON", "true", "t", "tr", "yes", "y", "1", " true "] {
            assert_eq!(parse_bool(t), Some(true), "{t}");
        }
        for f in ["off", "of", "OFF", "false", "f", "fal", "no", "n", "0"] {
            assert_eq!(parse_bool(f), Some(false), "{f}");
        }
        for x in ["o", "", "2", "maybe", "onn", "truee"] {
            assert_eq!(parse_bool(x), None, "{x}");
        }
    }
}
