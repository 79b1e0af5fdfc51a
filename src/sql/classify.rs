//! One statement's family, routing class and read-only verdict (routing.md §4.1, §7.1), and the
//! transaction/SET facts of §6.1 and §9.1, from its parse tree and its whole-tree walk.

use pg_query::protobuf::{self, ObjectType, TransactionStmtKind as Tx};
use pg_query::NodeEnum;

use super::settings::{self, VarSetKind};
use super::walk::{self, Found};
use super::{Analysis, Class, DiscardKind, Kind};

/// The analysis of one statement (`multi` and `later_prepares` are the caller's).
pub(super) fn analyze_statement(stmt: &NodeEnum) -> Analysis {
    let found = walk::walk(stmt);
    let mut a = Analysis {
        empty: false,
        read_only: false,
        ..Analysis::empty_statement()
    };
    classify(stmt, &found, &mut a);
    if a.kind == Kind::Select {
        a.terminate_pid = found.terminate_pid;
    }
    a.literal_dependent |= found.calls_terminate;
    a.relations = found.relations;
    a.functions = found.functions;
    a
}

/// A SELECT tree without INTO, locking clauses or data-modifying statements: load-balanceable.
fn plain_select(found: &Found) -> bool {
    !found.into && !found.locking && !found.modifying
}

/// Sets `kind`, `class`, `read_only` and the statement-specific facts of `a`.
fn classify(stmt: &NodeEnum, found: &Found, a: &mut Analysis) {
    let (kind, class) = match stmt {
        NodeEnum::SelectStmt(_) => {
            a.read_only = plain_select(found);
            (Kind::Select, either_if(a.read_only))
        }
        NodeEnum::InsertStmt(_) => (Kind::Insert, Class::Primary),
        NodeEnum::UpdateStmt(_) => (Kind::Update, Class::Primary),
        NodeEnum::DeleteStmt(_) => (Kind::Delete, Class::Primary),
        NodeEnum::MergeStmt(_) => (Kind::Merge, Class::Primary),
        NodeEnum::CopyStmt(c) => copy(c, found, a),
        NodeEnum::LockStmt(l) => {
            let share = l.mode == pg_query::LockMode::AccessShareLock as i32
                || l.mode == pg_query::LockMode::RowShareLock as i32;
            (Kind::Lock, if share { Class::Both } else { Class::Primary })
        }
        NodeEnum::TransactionStmt(t) => transaction(t, a),
        NodeEnum::VariableSetStmt(s) => {
            let facts = settings::set_facts(VarSetKind::from_proto(s.kind), &s.name, &s.args);
            a.sets_serializable = facts.serializable;
            a.sets_read_only = facts.read_only;
            a.literal_dependent = true;
            a.set_name = (!s.name.is_empty()).then(|| s.name.to_ascii_lowercase());
            let class = if facts.primary {
                Class::Primary
            } else {
                Class::Both
            };
            (Kind::Set, class)
        }
        NodeEnum::DiscardStmt(d) => {
            use protobuf::DiscardMode as D;
            let which = match D::try_from(d.target) {
                Ok(D::DiscardAll) => DiscardKind::All,
                Ok(D::DiscardPlans) => DiscardKind::Plans,
                _ => DiscardKind::Other,
            };
            (Kind::Discard(which), Class::Both)
        }
        NodeEnum::PrepareStmt(p) => {
            match p.query.as_deref().and_then(|q| q.node.as_ref()) {
                Some(inner) => classify(inner, found, a),
                None => a.class = Class::Primary,
            }
            a.kind = Kind::Prepare {
                name: p.name.clone(),
            };
            return;
        }
        NodeEnum::ExecuteStmt(e) => (
            Kind::Execute {
                name: e.name.clone(),
            },
            Class::Primary,
        ),
        NodeEnum::DeallocateStmt(d) if d.isall => (Kind::Deallocate { name: None }, Class::Both),
        NodeEnum::DeallocateStmt(d) => (
            Kind::Deallocate {
                name: Some(d.name.clone()),
            },
            Class::Primary,
        ),
        NodeEnum::VariableShowStmt(_) => {
            a.read_only = true;
            (Kind::Show, Class::Either)
        }
        NodeEnum::ExplainStmt(e) => {
            let (analyze, valued) = settings::explain_analyze(&e.options);
            let select = matches!(
                e.query.as_deref().and_then(|q| q.node.as_ref()),
                Some(NodeEnum::SelectStmt(_))
            );
            a.read_only = !analyze || (select && plain_select(found));
            a.literal_dependent |= valued;
            (Kind::Explain { analyze }, Class::Primary)
        }
        NodeEnum::CreateStmt(c) => (
            temp_table(c.relation.as_ref()).unwrap_or(Kind::Ddl),
            Class::Primary,
        ),
        NodeEnum::CreateTableAsStmt(c) => {
            let table = c.objtype == ObjectType::ObjectTable as i32;
            let rel = c.into.as_ref().and_then(|i| i.rel.as_ref());
            let kind = if table { temp_table(rel) } else { None };
            (kind.unwrap_or(Kind::Ddl), Class::Primary)
        }
        NodeEnum::DropStmt(d) if d.remove_type == ObjectType::ObjectTable as i32 => {
            (Kind::DropTable, Class::Primary)
        }
        NodeEnum::DropdbStmt(d) => {
            a.drop_database = Some(d.dbname.clone());
            (Kind::Ddl, Class::Primary)
        }
        _ if is_ddl(found.root) => (Kind::Ddl, Class::Primary),
        _ => (Kind::Other, Class::Primary),
    };
    a.kind = kind;
    a.class = class;
}

fn either_if(load_balanceable: bool) -> Class {
    if load_balanceable {
        Class::Either
    } else {
        Class::Primary
    }
}

/// COPY: FROM → primary; `table TO` → either; `(query) TO` → either for a plain SELECT.
/// Read-only only TO STDOUT. Always literal-dependent: the file name is a literal, and an
/// empty one would look like STDOUT.
fn copy(c: &protobuf::CopyStmt, found: &Found, a: &mut Analysis) -> (Kind, Class) {
    let stdio = c.filename.is_empty() && !c.is_program;
    let query = c.query.as_deref().and_then(|q| q.node.as_ref());
    let readable = match query {
        None => true,
        Some(NodeEnum::SelectStmt(_)) => plain_select(found),
        Some(_) => false,
    };
    let class = if c.is_from {
        Class::Primary
    } else {
        either_if(readable)
    };
    a.read_only = !c.is_from && stdio && readable;
    a.literal_dependent = true;
    let kind = Kind::Copy {
        from: c.is_from,
        stdio,
    };
    (kind, class)
}

fn transaction(t: &protobuf::TransactionStmt, a: &mut Analysis) -> (Kind, Class) {
    match Tx::try_from(t.kind) {
        Ok(Tx::TransStmtBegin | Tx::TransStmtStart) => {
            let modes = settings::tx_modes(&t.options);
            a.begin_rewrite = modes.read_write || modes.serializable;
            (Kind::Begin, Class::Both)
        }
        Ok(Tx::TransStmtCommit) => (Kind::Commit, Class::Both),
        Ok(Tx::TransStmtRollback) => (Kind::Rollback, Class::Both),
        Ok(Tx::TransStmtSavepoint) => (Kind::Savepoint, Class::Both),
        Ok(Tx::TransStmtRelease) => (Kind::Release, Class::Both),
        Ok(Tx::TransStmtRollbackTo) => (Kind::RollbackTo, Class::Both),
        Ok(Tx::TransStmtPrepare | Tx::TransStmtCommitPrepared | Tx::TransStmtRollbackPrepared) => {
            (Kind::TwoPhase, Class::Primary)
        }
        Ok(Tx::Undefined) | Err(_) => (Kind::Other, Class::Primary),
    }
}

/// `CreateTempTable` when the created relation is temporary.
fn temp_table(rel: Option<&protobuf::RangeVar>) -> Option<Kind> {
    let rel = rel.filter(|r| r.relpersistence == "t")?;
    Some(Kind::CreateTempTable {
        name: rel.relname.clone(),
    })
}

/// Statement node types counted as DDL (CREATE/ALTER/DROP …, TRUNCATE, COMMENT, GRANT …);
/// maintenance (VACUUM, ANALYZE, CLUSTER, REINDEX, CHECKPOINT) and the rest are `Other`.
fn is_ddl(root: &str) -> bool {
    const PREFIXES: &[&str] = &[
        "Create",
        "Alter",
        "Drop",
        "Define",
        "Rename",
        "Truncate",
        "Comment",
        "SecLabel",
        "Grant",
        "Index",
        "View",
        "Rule",
        "CompositeType",
        "ReassignOwned",
        "ImportForeignSchema",
        "RefreshMatView",
    ];
    PREFIXES.iter().any(|p| root.starts_with(p))
}
