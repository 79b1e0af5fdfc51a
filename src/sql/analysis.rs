//! What the router needs to know about a statement string, as plain data (the contract between
//! `sql` and `router`; spec/routing.md §4.1 and §7.1).

/// Routing class of the first statement (routing.md §4.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Class {
    /// Only the primary.
    Primary,
    /// May be load balanced (subject to the read-only test and the session state).
    Either,
    /// Every node the session may send reads to (§4.2 expansion).
    Both,
}

/// `DISCARD` variants (routing.md §9.2: ALL and PLANS also forget named statements).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DiscardKind {
    All,
    Plans,
    Other,
}

/// The statement family of the first statement, as far as routing and bookkeeping care.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Kind {
    /// SELECT, VALUES, TABLE, WITH … SELECT (also with INTO or locking clauses: see `Class`).
    Select,
    Insert,
    Update,
    Delete,
    Merge,
    /// BEGIN / START TRANSACTION.
    Begin,
    /// COMMIT / END.
    Commit,
    /// ROLLBACK / ABORT (not ROLLBACK TO).
    Rollback,
    Savepoint,
    Release,
    RollbackTo,
    /// PREPARE TRANSACTION, COMMIT PREPARED, ROLLBACK PREPARED.
    TwoPhase,
    /// SET / RESET / SET LOCAL / SET TRANSACTION / SET SESSION CHARACTERISTICS.
    Set,
    Discard(DiscardKind),
    /// `PREPARE name AS stmt`: `class` and `read_only` are those of the inner statement.
    Prepare {
        name: String,
    },
    /// `EXECUTE name`.
    Execute {
        name: String,
    },
    /// `DEALLOCATE name`; `None` = `DEALLOCATE ALL`.
    Deallocate {
        name: Option<String>,
    },
    /// COPY; `from` = COPY … FROM, `stdio` = to/from STDIN/STDOUT (not a file or program).
    Copy {
        from: bool,
        stdio: bool,
    },
    Lock,
    Show,
    Explain {
        analyze: bool,
    },
    /// CREATE TEMP/TEMPORARY TABLE (also CREATE TEMP TABLE … AS).
    CreateTempTable {
        name: String,
    },
    /// DROP TABLE (any table).
    DropTable,
    /// Any other DDL (CREATE/ALTER/DROP/TRUNCATE/COMMENT/GRANT/REVOKE …): counted as ddl.
    Ddl,
    /// Everything else (LISTEN, NOTIFY, DECLARE, FETCH, CALL, DO, VACUUM, …).
    Other,
}

/// A relation named in a statement (a RangeVar), as the parser gives it (unquoted, case as
/// written after identifier folding).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct RelRef {
    pub schema: Option<String>,
    pub name: String,
}

/// The facts about a statement string that routing decides on. Built once per normalized text
/// and shared (`Rc`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Analysis {
    /// Family of the first statement (only the first statement of a string is classified).
    pub kind: Kind,
    /// routing.md §4.1 class of the first statement. PREPARE: the inner statement's class.
    /// EXECUTE/DEALLOCATE name: Primary (the session overrides it from its records, §9.3).
    pub class: Class,
    /// The parse-tree part of the read-only test (routing.md §7.1), without the first-character
    /// text test (the router applies that to the raw text): a SELECT without INTO, without
    /// locking clauses anywhere and without data-modifying CTEs; COPY … TO STDOUT of a table or
    /// of a SELECT; EXPLAIN without ANALYZE; EXPLAIN ANALYZE of such a SELECT (the router still
    /// checks its functions); SHOW. PREPARE: judged by the inner statement.
    pub read_only: bool,
    /// More than one statement in the string (routing.md §3.2).
    pub multi: bool,
    /// Names of the PREPAREs that are the 2nd or later statement of a multi-statement string.
    pub later_prepares: Vec<String>,
    /// Empty string, only `;` or only comments: routed as a dummy read-only SELECT.
    pub empty: bool,
    /// The parser refused the string: routed as a dummy write (the backend reports the error).
    pub unparsable: bool,
    /// Every relation referenced anywhere in the first statement (subqueries, CTEs, joins,
    /// DML targets), each once, in order of appearance.
    pub relations: Vec<RelRef>,
    /// Every function called anywhere in the first statement, each once: `schema.func` when
    /// qualified (`catalog.schema.func` → `schema.func`), else `func`; unquoted.
    pub functions: Vec<String>,
    /// `pg_terminate_backend(<integer constant>)` found in a SELECT: that pid.
    pub terminate_pid: Option<i32>,
    /// BEGIN/START TRANSACTION … READ WRITE or … ISOLATION LEVEL SERIALIZABLE: non-primary nodes
    /// get a plain `BEGIN` instead (routing.md §9.1).
    pub begin_rewrite: bool,
    /// A SET that makes the transaction or the session serializable (routing.md §4.1, §6.1).
    pub sets_serializable: bool,
    /// `SET TRANSACTION READ ONLY`, `SET transaction_read_only = on`, `SET SESSION
    /// CHARACTERISTICS AS TRANSACTION READ ONLY`: never counted as a write (§6.1).
    pub sets_read_only: bool,
    /// The analysis depends on literal values (SET values, pg_terminate_backend's pid …): it
    /// must not be shared with texts that differ only in their literals.
    pub literal_dependent: bool,
    /// SET / RESET: the parameter's name, lower case (`role`, `session_authorization`,
    /// `search_path`; `transaction` and `session characteristics` for those forms); `None` for
    /// other statements and for `RESET ALL`.
    pub set_name: Option<String>,
    /// DROP DATABASE: the database's name (routing.md §3.1 step 10).
    pub drop_database: Option<String>,
}

impl Analysis {
    /// The dummy read-only SELECT an empty string is routed as.
    pub fn empty_statement() -> Analysis {
        Analysis {
            kind: Kind::Select,
            class: Class::Either,
            read_only: true,
            multi: false,
            later_prepares: Vec::new(),
            empty: true,
            unparsable: false,
            relations: Vec::new(),
            functions: Vec::new(),
            terminate_pid: None,
            begin_rewrite: false,
            sets_serializable: false,
            sets_read_only: false,
            literal_dependent: false,
            set_name: None,
            drop_database: None,
        }
    }

    /// A statement the parser accepted but whose tree is too deep to decode: routed like an
    /// unparsable string, though it is none.
    pub fn undecodable_statement() -> Analysis {
        Analysis {
            unparsable: false,
            ..Analysis::unparsable_statement()
        }
    }

    /// The dummy write an unparsable string is routed as.
    pub fn unparsable_statement() -> Analysis {
        Analysis {
            kind: Kind::Delete,
            class: Class::Primary,
            read_only: false,
            empty: false,
            unparsable: true,
            ..Analysis::empty_statement()
        }
    }
}
