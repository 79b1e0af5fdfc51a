//! Tests of `analyze`: every row of routing.md §4.1, the §7.1 read-only cases, multi-statement,
//! empty and unparsable strings, relation and function extraction, the SET / BEGIN facts, and
//! the cache (sharing across literals, never across SET values).

use std::cell::Cell;
use std::rc::Rc;

use super::*;

thread_local! {
    static PARSES: Cell<u64> = const { Cell::new(0) };
}

/// Called by `analyze_uncached` in test builds.
pub(super) fn count_parse() {
    PARSES.with(|p| p.set(p.get() + 1));
}

fn parses() -> u64 {
    PARSES.with(Cell::get)
}

fn a(sql: &str) -> Rc<Analysis> {
    analyze(sql)
}

#[track_caller]
fn class(sql: &str, want: Class) {
    let got = a(sql);
    assert_eq!(got.class, want, "class of {sql:?}: {got:?}");
}

#[track_caller]
fn kind(sql: &str, want: Kind) {
    let got = a(sql);
    assert_eq!(got.kind, want, "kind of {sql:?}");
}

#[track_caller]
fn read_only(sql: &str, want: bool) {
    let got = a(sql);
    assert_eq!(got.read_only, want, "read_only of {sql:?}: {got:?}");
}

fn rel(schema: Option<&str>, name: &str) -> RelRef {
    RelRef {
        schema: schema.map(str::to_owned),
        name: name.to_owned(),
    }
}

// ---- §4.1 class table -------------------------------------------------------------------

#[test]
fn select_into_or_locking_anywhere_is_primary() {
    for sql in [
        "SELECT * INTO t2 FROM t",
        "SELECT 1 INTO TEMP t3",
        "SELECT * FROM t FOR UPDATE",
        "SELECT * FROM t FOR SHARE",
        "SELECT * FROM t FOR NO KEY UPDATE",
        "SELECT * FROM t FOR KEY SHARE",
        "SELECT * FROM (SELECT * FROM t FOR UPDATE) s",
        "SELECT * FROM t WHERE a IN (SELECT a FROM u FOR SHARE)",
        "WITH c AS (SELECT * FROM t FOR UPDATE) SELECT * FROM c",
        "VALUES (1) FOR UPDATE",
        "TABLE t FOR UPDATE",
    ] {
        class(sql, Class::Primary);
        kind(sql, Kind::Select);
        read_only(sql, false);
    }
}

#[test]
fn data_modifying_cte_is_primary() {
    for sql in [
        "WITH d AS (DELETE FROM t RETURNING *) SELECT * FROM d",
        "WITH i AS (INSERT INTO t VALUES (1) RETURNING a) SELECT a FROM i",
        "WITH u AS (UPDATE t SET a = 1 RETURNING a) SELECT 1",
    ] {
        class(sql, Class::Primary);
        kind(sql, Kind::Select);
        read_only(sql, false);
    }
}

#[test]
fn other_selects_are_either_and_read_only() {
    for sql in [
        "SELECT 1",
        "select * from t where a = 1",
        "VALUES (1), (2)",
        "TABLE t",
        "WITH c AS (SELECT 1) SELECT * FROM c",
        "SELECT 1 UNION SELECT 2",
        "(SELECT 1)",
        "SELECT nextval('s')",
    ] {
        class(sql, Class::Either);
        kind(sql, Kind::Select);
        read_only(sql, true);
    }
}

#[test]
fn copy_from_is_primary() {
    for sql in [
        "COPY t FROM STDIN",
        "COPY t (a, b) FROM '/tmp/f'",
        "COPY t FROM PROGRAM 'cat'",
    ] {
        class(sql, Class::Primary);
        read_only(sql, false);
    }
    let stdin = a("COPY t FROM STDIN");
    assert_eq!(
        stdin.kind,
        Kind::Copy {
            from: true,
            stdio: true
        }
    );
    assert_eq!(
        a("COPY t FROM '/tmp/f'").kind,
        Kind::Copy {
            from: true,
            stdio: false
        }
    );
}

#[test]
fn copy_table_to_is_either_and_read_only_to_stdout() {
    class("COPY t TO STDOUT", Class::Either);
    read_only("COPY t TO STDOUT", true);
    read_only("COPY t TO STDOUT WITH (FORMAT csv)", true);
    class("COPY t TO '/tmp/out'", Class::Either);
    read_only("COPY t TO '/tmp/out'", false);
    read_only("COPY t TO PROGRAM 'gzip > /tmp/x'", false);
    assert_eq!(
        a("COPY t TO STDOUT").kind,
        Kind::Copy {
            from: false,
            stdio: true
        }
    );
    assert_eq!(a("COPY t TO '/tmp/out'").relations, vec![rel(None, "t")]);
}

#[test]
fn copy_query_to_is_either_for_a_select() {
    class("COPY (SELECT * FROM t) TO STDOUT", Class::Either);
    read_only("COPY (SELECT * FROM t) TO STDOUT", true);
    read_only("COPY (SELECT * FROM t) TO '/tmp/x'", false);
    class(
        "COPY (INSERT INTO t VALUES (1) RETURNING *) TO STDOUT",
        Class::Primary,
    );
    read_only(
        "COPY (INSERT INTO t VALUES (1) RETURNING *) TO STDOUT",
        false,
    );
    class("COPY (DELETE FROM t RETURNING *) TO STDOUT", Class::Primary);
}

#[test]
fn copy_is_literal_dependent() {
    assert!(a("COPY t TO STDOUT").literal_dependent);
    assert!(a("COPY t TO '/tmp/x'").literal_dependent);
}

#[test]
fn lock_class_depends_on_mode() {
    for sql in [
        "LOCK t",
        "LOCK TABLE t",
        "LOCK TABLE t IN ACCESS EXCLUSIVE MODE",
        "LOCK TABLE t IN EXCLUSIVE MODE",
        "LOCK TABLE t IN SHARE ROW EXCLUSIVE MODE",
        "LOCK TABLE t IN SHARE MODE",
        "LOCK TABLE t IN SHARE UPDATE EXCLUSIVE MODE",
        "LOCK TABLE t IN ROW EXCLUSIVE MODE",
    ] {
        class(sql, Class::Primary);
        kind(sql, Kind::Lock);
    }
    class("LOCK TABLE t IN ACCESS SHARE MODE", Class::Both);
    class("LOCK TABLE t IN ROW SHARE MODE", Class::Both);
    assert_eq!(
        a("LOCK TABLE s.t, u IN ROW SHARE MODE").relations,
        vec![rel(Some("s"), "t"), rel(None, "u")]
    );
}

#[test]
fn begin_and_start_are_both() {
    for sql in [
        "BEGIN",
        "BEGIN WORK",
        "BEGIN TRANSACTION",
        "START TRANSACTION",
        "BEGIN READ ONLY",
        "BEGIN READ WRITE",
        "START TRANSACTION READ WRITE",
        "BEGIN ISOLATION LEVEL SERIALIZABLE",
        "BEGIN ISOLATION LEVEL REPEATABLE READ",
        "START TRANSACTION ISOLATION LEVEL READ COMMITTED, DEFERRABLE",
    ] {
        class(sql, Class::Both);
        kind(sql, Kind::Begin);
        read_only(sql, false);
    }
}

#[test]
fn savepoint_release_rollback_to_are_both() {
    class("SAVEPOINT s", Class::Both);
    kind("SAVEPOINT s", Kind::Savepoint);
    class("RELEASE SAVEPOINT s", Class::Both);
    kind("RELEASE s", Kind::Release);
    class("ROLLBACK TO SAVEPOINT s", Class::Both);
    kind("ROLLBACK TO s", Kind::RollbackTo);
}

#[test]
fn two_phase_commands_are_primary() {
    for sql in [
        "PREPARE TRANSACTION 'g1'",
        "COMMIT PREPARED 'g1'",
        "ROLLBACK PREPARED 'g1'",
    ] {
        class(sql, Class::Primary);
        kind(sql, Kind::TwoPhase);
    }
}

#[test]
fn commit_and_rollback_are_both() {
    for sql in [
        "COMMIT",
        "END",
        "COMMIT WORK",
        "END TRANSACTION",
        "COMMIT AND CHAIN",
    ] {
        class(sql, Class::Both);
        kind(sql, Kind::Commit);
    }
    for sql in ["ROLLBACK", "ABORT", "ROLLBACK WORK", "ABORT TRANSACTION"] {
        class(sql, Class::Both);
        kind(sql, Kind::Rollback);
    }
}

#[test]
fn set_transaction_read_only_off_is_primary() {
    for sql in [
        "SET transaction_read_only = off",
        "SET transaction_read_only TO off",
        "SET transaction_read_only = 'off'",
        "SET transaction_read_only = f",
        "SET transaction_read_only = false",
        "SET transaction_read_only = FALSE",
        "SET transaction_read_only = 0",
        "SET LOCAL transaction_read_only = off",
        "SET SESSION transaction_read_only = 'false'",
    ] {
        class(sql, Class::Primary);
        kind(sql, Kind::Set);
        assert!(!a(sql).sets_read_only, "{sql}");
    }
}

#[test]
fn serializable_settings_are_primary() {
    for sql in [
        "SET TRANSACTION ISOLATION LEVEL SERIALIZABLE",
        "SET SESSION CHARACTERISTICS AS TRANSACTION ISOLATION LEVEL SERIALIZABLE",
        "SET transaction_isolation = 'serializable'",
        "SET transaction_isolation TO serializable",
        "SET default_transaction_isolation = 'serializable'",
        "SET default_transaction_isolation = 'SERIALIZABLE'",
        "SET LOCAL transaction_isolation = 'serializable'",
        "SET TRANSACTION ISOLATION LEVEL SERIALIZABLE READ ONLY",
    ] {
        class(sql, Class::Primary);
        assert!(a(sql).sets_serializable, "{sql}");
    }
}

#[test]
fn read_write_settings_are_primary() {
    for sql in [
        "SET TRANSACTION READ WRITE",
        "SET SESSION CHARACTERISTICS AS TRANSACTION READ WRITE",
        "SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ WRITE",
    ] {
        class(sql, Class::Primary);
        let got = a(sql);
        assert!(!got.sets_serializable && !got.sets_read_only, "{sql}");
    }
}

#[test]
fn other_set_and_reset_are_both() {
    for sql in [
        "SET search_path = x",
        "SET search_path TO x, public",
        "SET LOCAL work_mem = '64MB'",
        "SET SESSION statement_timeout = 0",
        "SET transaction_read_only = on",
        "SET transaction_isolation = 'repeatable read'",
        "SET default_transaction_isolation TO DEFAULT",
        "SET TRANSACTION ISOLATION LEVEL REPEATABLE READ",
        "SET TRANSACTION READ ONLY",
        "SET TIME ZONE 'UTC'",
        "SET ROLE bob",
        "SET SESSION AUTHORIZATION bob",
        "SET work_mem FROM CURRENT",
        "RESET search_path",
        "RESET ALL",
        "RESET transaction_isolation",
    ] {
        class(sql, Class::Both);
        kind(sql, Kind::Set);
        let got = a(sql);
        assert!(got.literal_dependent, "{sql}");
        assert!(!got.sets_serializable, "{sql}");
    }
}

#[test]
fn set_names_are_reported() {
    assert_eq!(a("SET ROLE bob").set_name.as_deref(), Some("role"));
    assert_eq!(
        a("SET SESSION AUTHORIZATION bob").set_name.as_deref(),
        Some("session_authorization")
    );
    assert_eq!(
        a("SET Search_Path = x").set_name.as_deref(),
        Some("search_path")
    );
    assert_eq!(a("RESET ALL").set_name, None);
    assert_eq!(a("SELECT 1").set_name, None);
}

#[test]
fn sets_read_only_forms() {
    for sql in [
        "SET TRANSACTION READ ONLY",
        "SET transaction_read_only = on",
        "SET transaction_read_only = true",
        "SET transaction_read_only = 1",
        "SET transaction_read_only TO 'on'",
        "SET SESSION CHARACTERISTICS AS TRANSACTION READ ONLY",
    ] {
        assert!(a(sql).sets_read_only, "{sql}");
        class(sql, Class::Both);
    }
    assert!(!a("SET transaction_read_only = off").sets_read_only);
    assert!(!a("SET search_path = x").sets_read_only);
    assert!(!a("BEGIN READ ONLY").sets_read_only);
}

#[test]
fn discard_is_both() {
    assert_eq!(a("DISCARD ALL").kind, Kind::Discard(DiscardKind::All));
    assert_eq!(a("DISCARD PLANS").kind, Kind::Discard(DiscardKind::Plans));
    assert_eq!(a("DISCARD TEMP").kind, Kind::Discard(DiscardKind::Other));
    assert_eq!(
        a("DISCARD SEQUENCES").kind,
        Kind::Discard(DiscardKind::Other)
    );
    for sql in [
        "DISCARD ALL",
        "DISCARD PLANS",
        "DISCARD TEMP",
        "DISCARD SEQUENCES",
    ] {
        class(sql, Class::Both);
    }
}

#[test]
fn prepare_takes_the_inner_statement_class() {
    let p = a("PREPARE p AS SELECT * FROM t WHERE a = $1");
    assert_eq!(p.kind, Kind::Prepare { name: "p".into() });
    assert_eq!(p.class, Class::Either);
    assert!(p.read_only);
    assert_eq!(p.relations, vec![rel(None, "t")]);

    let w = a("PREPARE q (int) AS INSERT INTO t VALUES ($1)");
    assert_eq!(w.kind, Kind::Prepare { name: "q".into() });
    assert_eq!(w.class, Class::Primary);
    assert!(!w.read_only);

    let l = a("PREPARE r AS SELECT * FROM t FOR UPDATE");
    assert_eq!(l.class, Class::Primary);
    assert!(!l.read_only);
}

#[test]
fn execute_and_deallocate_are_primary() {
    let e = a("EXECUTE p(1, 'x')");
    assert_eq!(e.kind, Kind::Execute { name: "p".into() });
    assert_eq!(e.class, Class::Primary);
    assert!(!e.read_only);
    let d = a("DEALLOCATE p");
    assert_eq!(
        d.kind,
        Kind::Deallocate {
            name: Some("p".into())
        }
    );
    assert_eq!(d.class, Class::Primary);
    let d = a("DEALLOCATE PREPARE p");
    assert_eq!(
        d.kind,
        Kind::Deallocate {
            name: Some("p".into())
        }
    );
}

#[test]
fn deallocate_all_is_both() {
    let d = a("DEALLOCATE ALL");
    assert_eq!(d.kind, Kind::Deallocate { name: None });
    assert_eq!(d.class, Class::Both);
}

#[test]
fn show_is_either_and_read_only() {
    for sql in [
        "SHOW search_path",
        "SHOW ALL",
        "SHOW TRANSACTION ISOLATION LEVEL",
    ] {
        class(sql, Class::Either);
        kind(sql, Kind::Show);
        read_only(sql, true);
    }
}

#[test]
fn explain_is_primary() {
    for sql in [
        "EXPLAIN SELECT 1",
        "EXPLAIN ANALYZE SELECT 1",
        "EXPLAIN (ANALYZE, BUFFERS) SELECT * FROM t",
        "EXPLAIN INSERT INTO t VALUES (1)",
        "EXPLAIN VERBOSE SELECT 1",
    ] {
        class(sql, Class::Primary);
    }
}

#[test]
fn explain_read_only_rules() {
    read_only("EXPLAIN SELECT 1", true);
    read_only("EXPLAIN INSERT INTO t VALUES (1)", true);
    read_only("EXPLAIN (COSTS off) DELETE FROM t", true);
    read_only("EXPLAIN ANALYZE SELECT * FROM t", true);
    read_only("EXPLAIN (ANALYZE) SELECT * FROM t", true);
    read_only("EXPLAIN ANALYZE INSERT INTO t VALUES (1)", false);
    read_only("EXPLAIN (ANALYZE true) UPDATE t SET a = 1", false);
    read_only("EXPLAIN (ANALYZE 1) UPDATE t SET a = 1", false);
    read_only("EXPLAIN (ANALYZE false) UPDATE t SET a = 1", true);
    read_only("EXPLAIN ANALYZE SELECT * FROM t FOR UPDATE", false);
    read_only("EXPLAIN ANALYZE SELECT * INTO t2 FROM t", false);
    read_only(
        "EXPLAIN ANALYZE WITH d AS (DELETE FROM t RETURNING 1) SELECT * FROM d",
        false,
    );
    assert_eq!(a("EXPLAIN SELECT 1").kind, Kind::Explain { analyze: false });
    assert_eq!(
        a("EXPLAIN ANALYZE SELECT 1").kind,
        Kind::Explain { analyze: true }
    );
    assert_eq!(
        a("EXPLAIN ANALYZE SELECT * FROM t").relations,
        vec![rel(None, "t")]
    );
}

#[test]
fn explain_options_with_values_are_literal_dependent() {
    assert!(a("EXPLAIN (ANALYZE 0) DELETE FROM t").literal_dependent);
    assert!(!a("EXPLAIN ANALYZE DELETE FROM t").literal_dependent);
}

#[test]
fn everything_else_is_primary() {
    for (sql, want) in [
        ("INSERT INTO t VALUES (1)", Kind::Insert),
        ("UPDATE t SET a = 1", Kind::Update),
        ("DELETE FROM t", Kind::Delete),
        (
            "MERGE INTO t USING u ON t.a = u.a WHEN MATCHED THEN DELETE",
            Kind::Merge,
        ),
        ("CREATE TABLE t (a int)", Kind::Ddl),
        ("ALTER TABLE t ADD COLUMN b int", Kind::Ddl),
        ("DROP INDEX i", Kind::Ddl),
        ("TRUNCATE t", Kind::Ddl),
        ("COMMENT ON TABLE t IS 'x'", Kind::Ddl),
        ("GRANT SELECT ON t TO bob", Kind::Ddl),
        ("REVOKE SELECT ON t FROM bob", Kind::Ddl),
        ("CREATE INDEX i ON t (a)", Kind::Ddl),
        ("CREATE VIEW v AS SELECT 1", Kind::Ddl),
        (
            "CREATE FUNCTION f() RETURNS int AS 'select 1' LANGUAGE sql",
            Kind::Ddl,
        ),
        ("CREATE SEQUENCE s", Kind::Ddl),
        ("CREATE TEMP SEQUENCE s", Kind::Ddl),
        ("CREATE UNLOGGED TABLE t (a int)", Kind::Ddl),
        ("CREATE TABLE t2 AS SELECT 1", Kind::Ddl),
        ("CREATE MATERIALIZED VIEW m AS SELECT 1", Kind::Ddl),
        ("REFRESH MATERIALIZED VIEW m", Kind::Ddl),
        ("ALTER SYSTEM SET work_mem = '1MB'", Kind::Ddl),
        ("CREATE DATABASE d", Kind::Ddl),
        ("DROP DATABASE d", Kind::Ddl),
        ("DROP TABLE t", Kind::DropTable),
        ("DROP TABLE IF EXISTS a, b CASCADE", Kind::DropTable),
        ("VACUUM t", Kind::Other),
        ("ANALYZE t", Kind::Other),
        ("CHECKPOINT", Kind::Other),
        ("LISTEN ch", Kind::Other),
        ("UNLISTEN *", Kind::Other),
        ("NOTIFY ch, 'x'", Kind::Other),
        ("DECLARE c CURSOR FOR SELECT 1", Kind::Other),
        ("FETCH 10 FROM c", Kind::Other),
        ("MOVE NEXT IN c", Kind::Other),
        ("CLOSE c", Kind::Other),
        ("CALL p(1)", Kind::Other),
        ("DO $$BEGIN END$$", Kind::Other),
        ("LOAD 'auto_explain'", Kind::Other),
        ("CLUSTER t", Kind::Other),
        ("REINDEX TABLE t", Kind::Other),
        ("SET CONSTRAINTS ALL DEFERRED", Kind::Other),
    ] {
        let got = a(sql);
        assert_eq!(got.kind, want, "kind of {sql}");
        assert_eq!(got.class, Class::Primary, "class of {sql}");
        assert!(!got.read_only, "read_only of {sql}");
    }
}

#[test]
fn create_temp_table_is_its_own_kind() {
    for sql in [
        "CREATE TEMP TABLE tt (a int)",
        "CREATE TEMPORARY TABLE tt (a int)",
        "CREATE LOCAL TEMP TABLE tt (a int)",
        "CREATE TEMP TABLE IF NOT EXISTS tt (a int)",
        "CREATE TEMP TABLE tt AS SELECT 1 AS a",
        "CREATE TEMPORARY TABLE tt ON COMMIT DROP AS SELECT * FROM t",
    ] {
        let got = a(sql);
        assert_eq!(
            got.kind,
            Kind::CreateTempTable { name: "tt".into() },
            "{sql}"
        );
        assert_eq!(got.class, Class::Primary, "{sql}");
        assert_eq!(got.relations.first(), Some(&rel(None, "tt")), "{sql}");
    }
    // SELECT INTO TEMP stays a SELECT with INTO.
    let into = a("SELECT 1 AS a INTO TEMP tt");
    assert_eq!(into.kind, Kind::Select);
    assert_eq!(into.class, Class::Primary);
}

// ---- pre-routing: empty, unparsable, multi-statement ------------------------------------

#[test]
fn empty_strings_are_a_dummy_read_only_select() {
    for sql in [
        "",
        "   ",
        ";",
        " ; ;",
        "-- just a comment",
        "/* c */",
        "/* a */ ; -- b\n",
    ] {
        let got = a(sql);
        assert_eq!(*got, Analysis::empty_statement(), "{sql:?}");
        assert!(got.empty && got.read_only && got.class == Class::Either);
    }
}

#[test]
fn unparsable_strings_are_a_dummy_write() {
    for sql in [
        "SELEC 1",
        "SELECT FROM WHERE",
        "SELECT 'unterminated",
        "SELECT 1 'a' 'b'",
        "SELECT \u{0} 1",
        "BEGIN; SELEC 1",
    ] {
        let got = a(sql);
        assert_eq!(*got, Analysis::unparsable_statement(), "{sql:?}");
        assert!(got.unparsable && got.class == Class::Primary && !got.read_only);
    }
}

#[test]
fn multi_statement_strings() {
    let m = a("BEGIN; UPDATE t SET a = 1; COMMIT");
    assert!(m.multi);
    assert_eq!(m.kind, Kind::Begin);
    assert!(m.relations.is_empty(), "only the first statement is walked");

    let s = a("SELECT 1;");
    assert!(!s.multi);
    let s = a("SELECT 1;;");
    assert!(!s.multi);

    let p = a("SELECT 1; PREPARE a AS SELECT 2; PREPARE b AS DELETE FROM t; EXECUTE a");
    assert!(p.multi);
    assert_eq!(p.later_prepares, vec!["a".to_string(), "b".to_string()]);
    assert_eq!(p.kind, Kind::Select);

    let first = a("PREPARE x AS SELECT 1; SELECT 2");
    assert!(first.multi);
    assert_eq!(first.kind, Kind::Prepare { name: "x".into() });
    assert!(first.later_prepares.is_empty());
}

// ---- relations and functions ------------------------------------------------------------

#[test]
fn relations_everywhere_in_text_order_each_once() {
    let got = a("WITH c AS (SELECT * FROM cte_src) \
         SELECT * FROM s1.a JOIN b ON a.x = b.x \
         LEFT JOIN (SELECT * FROM sub) q ON true \
         WHERE EXISTS (SELECT 1 FROM ex WHERE ex.y IN (SELECT y FROM deep)) \
         AND a.z = (SELECT max(z) FROM b) \
         UNION SELECT * FROM c");
    assert_eq!(
        got.relations,
        vec![
            rel(None, "cte_src"),
            rel(Some("s1"), "a"),
            rel(None, "b"),
            rel(None, "sub"),
            rel(None, "ex"),
            rel(None, "deep"),
            rel(None, "c"),
        ]
    );
}

#[test]
fn relations_of_dml_targets_and_catalog_qualified_names() {
    assert_eq!(
        a("INSERT INTO s.t SELECT * FROM u").relations,
        vec![rel(Some("s"), "t"), rel(None, "u")]
    );
    assert_eq!(
        a("UPDATE t SET a = (SELECT b FROM u) FROM v WHERE t.id = v.id").relations,
        vec![rel(None, "t"), rel(None, "u"), rel(None, "v")]
    );
    assert_eq!(
        a("DELETE FROM t USING u WHERE t.a = u.a").relations,
        vec![rel(None, "t"), rel(None, "u")]
    );
    assert_eq!(
        a("SELECT * FROM db.s.t, \"Mixed\".\"Case\", Upper").relations,
        vec![
            rel(Some("s"), "t"),
            rel(Some("Mixed"), "Case"),
            rel(None, "upper")
        ]
    );
    assert_eq!(
        a("SELECT * FROM pg_catalog.pg_class").relations,
        vec![rel(Some("pg_catalog"), "pg_class")]
    );
}

#[test]
fn functions_everywhere_nested_and_qualified() {
    let got = a("SELECT f1(a), s.f2(g(b)) FROM t, LATERAL srf(1) \
         WHERE h(c) > 0 AND d IN (SELECT k(x) FROM u) \
         GROUP BY m(e) HAVING count(*) > 1 ORDER BY cat.sch.n(1)");
    assert_eq!(
        got.functions,
        vec!["f1", "s.f2", "g", "srf", "h", "k", "m", "count", "sch.n"]
    );
    assert_eq!(
        a("SELECT nextval('s'), NEXTVAL('s'), \"MyFunc\"()").functions,
        vec!["nextval", "MyFunc"]
    );
    assert!(a("SELECT a + 1 FROM t").functions.is_empty());
    assert_eq!(
        a("SELECT CASE WHEN f(a) THEN g(b) ELSE COALESCE(h(c), 0) END FROM t").functions,
        vec!["f", "g", "h"]
    );
    assert_eq!(
        a("SELECT json_build_object('k', (SELECT fx(1)))").functions,
        vec!["json_build_object", "fx"]
    );
    assert_eq!(
        a("INSERT INTO t VALUES (gen_random_uuid())").functions,
        vec!["gen_random_uuid"]
    );
}

#[test]
fn terminate_pid_from_a_select_with_a_constant() {
    let got = a("SELECT pg_terminate_backend(12345)");
    assert_eq!(got.terminate_pid, Some(12345));
    assert!(got.literal_dependent);
    assert_eq!(got.functions, vec!["pg_terminate_backend"]);
    assert_eq!(
        a("SELECT pg_catalog.pg_terminate_backend(77, 1000)").terminate_pid,
        Some(77)
    );
    assert_eq!(
        a("SELECT pg_terminate_backend(pid) FROM pg_stat_activity").terminate_pid,
        None
    );
    assert_eq!(a("SELECT pg_terminate_backend(1 + 2)").terminate_pid, None);
    assert_eq!(a("SELECT pg_cancel_backend(123)").terminate_pid, None);
    assert_eq!(a("SELECT abs(5)").terminate_pid, None);
    assert_eq!(
        a("PREPARE p AS SELECT pg_terminate_backend(5)").terminate_pid,
        None
    );
}

#[test]
fn terminate_pid_never_shared_across_pids() {
    assert_eq!(
        a("SELECT pg_terminate_backend(111)").terminate_pid,
        Some(111)
    );
    assert_eq!(
        a("SELECT pg_terminate_backend(222)").terminate_pid,
        Some(222)
    );
    assert_eq!(
        a("SELECT pg_terminate_backend(111)").terminate_pid,
        Some(111)
    );
}

// ---- BEGIN rewrite ----------------------------------------------------------------------

#[test]
fn begin_rewrite_variants() {
    for sql in [
        "BEGIN READ WRITE",
        "START TRANSACTION READ WRITE",
        "BEGIN ISOLATION LEVEL SERIALIZABLE",
        "begin transaction isolation level serializable",
        "START TRANSACTION ISOLATION LEVEL SERIALIZABLE, READ ONLY",
        "BEGIN ISOLATION LEVEL READ COMMITTED READ WRITE",
        "START TRANSACTION DEFERRABLE, READ WRITE",
    ] {
        assert!(a(sql).begin_rewrite, "{sql}");
    }
    for sql in [
        "BEGIN",
        "START TRANSACTION",
        "BEGIN READ ONLY",
        "BEGIN ISOLATION LEVEL REPEATABLE READ",
        "START TRANSACTION ISOLATION LEVEL READ COMMITTED, DEFERRABLE",
        "COMMIT",
    ] {
        assert!(!a(sql).begin_rewrite, "{sql}");
    }
}

#[test]
fn plain_statements_are_not_literal_dependent() {
    for sql in [
        "SELECT * FROM t WHERE a = 1",
        "INSERT INTO t VALUES (1, 'x')",
        "BEGIN ISOLATION LEVEL SERIALIZABLE",
        "PREPARE TRANSACTION 'g'",
        "LOCK t",
    ] {
        assert!(!a(sql).literal_dependent, "{sql}");
    }
}

// ---- the cache --------------------------------------------------------------------------

#[test]
fn texts_differing_only_in_literals_share_one_parse() {
    let before = parses();
    let one = a("SELECT abalance FROM pgbench_accounts WHERE aid = 901;");
    let two = a("SELECT  abalance FROM pgbench_accounts /* x */ WHERE aid = 902;");
    let three = a("select abalance from PGBENCH_ACCOUNTS where aid = 903;");
    assert_eq!(parses() - before, 1, "one parse for three texts");
    assert!(Rc::ptr_eq(&one, &two) && Rc::ptr_eq(&two, &three));
    assert_eq!(one.relations, vec![rel(None, "pgbench_accounts")]);

    let s1 = a("SELECT * FROM t WHERE name = 'alice' AND n < 1.5");
    let s2 = a("SELECT * FROM t WHERE name = 'bob''s' AND n < 2.75");
    assert!(Rc::ptr_eq(&s1, &s2));
}

#[test]
fn literal_classes_are_not_shared() {
    let before = parses();
    let small = a("SELECT * FROM t LIMIT 5");
    let big = a("SELECT * FROM t LIMIT 50000000000");
    assert_eq!(parses() - before, 2);
    assert!(!Rc::ptr_eq(&small, &big));
}

#[test]
fn set_with_different_values_does_not_share() {
    let off = a("SET transaction_read_only = off");
    let on = a("SET transaction_read_only = on");
    assert_eq!(off.class, Class::Primary);
    assert_eq!(on.class, Class::Both);
    assert!(on.sets_read_only && !off.sets_read_only);
    assert!(!Rc::ptr_eq(&off, &on));

    let ser = a("SET default_transaction_isolation = 'serializable'");
    let rr = a("SET default_transaction_isolation = 'repeatable read'");
    assert!(ser.sets_serializable && !rr.sets_serializable);
    assert_eq!(rr.class, Class::Both);

    // The same text again is served from the cache.
    let before = parses();
    let again = a("SET transaction_read_only = off");
    assert_eq!(parses(), before);
    assert!(Rc::ptr_eq(&off, &again));
}

#[test]
fn unparsable_and_uncacheable_texts_are_still_analyzed() {
    let got = a("SELECT 'never closed");
    assert!(got.unparsable);
    // valid, but too deep for the tree decoder: routed to the primary, not called unparsable
    let deep = a(&format!("SELECT 1{}", " + 1".repeat(60)));
    assert!(!deep.unparsable && deep.class == Class::Primary, "{deep:?}");
    let long = format!("SELECT {}1", "1, ".repeat(3000));
    assert!(long.len() > 8 * 1024);
    let before = parses();
    assert_eq!(a(&long).kind, Kind::Select);
    assert_eq!(a(&long).kind, Kind::Select);
    assert_eq!(parses() - before, 2, "long texts are not cached");
}

/// Cost of a cache hit against a parse (a miss). Run in release mode:
/// `nice cargo test --release --lib sql:: -- --ignored --nocapture`.
#[test]
#[ignore = "micro-benchmark, not a check: run it in release mode with --ignored --nocapture"]
fn bench_hit_vs_miss() {
    use std::time::Instant;
    const N: u32 = 20_000;
    let texts: Vec<String> = (0..N)
        .map(|i| {
            format!(
                "SELECT abalance FROM pgbench_accounts WHERE aid = {};",
                1000 + i
            )
        })
        .collect();
    analyze(&texts[0]);
    let start = Instant::now();
    for t in &texts {
        std::hint::black_box(analyze(t));
    }
    let hit = start.elapsed() / N;
    let start = Instant::now();
    for t in texts.iter().take(2000) {
        std::hint::black_box(analyze_uncached(t));
    }
    let miss = start.elapsed() / 2000;
    let start = Instant::now();
    for t in texts.iter().take(2000) {
        std::hint::black_box(pg_query::parse(t, pg_query::ParserOptions::default()).is_ok());
    }
    let parse = start.elapsed() / 2000;
    let start = Instant::now();
    for t in &texts {
        std::hint::black_box(key::normalize_key(t));
    }
    let key = start.elapsed() / N;
    println!(
        "sql::analyze: hit {hit:?}, miss {miss:?} (pg_query::parse alone {parse:?}, \
         normalize_key alone {key:?})"
    );
}

/// The cache key is sound: texts with one key get the same analysis from the parser unless it
/// is literal-dependent (and then it is cached per exact text). Checked over statement templates
/// filled with literals of every class, including the grammar spots that tell integers from
/// other numbers (FETCH, typmods) and adjacent strings (continuation).
#[test]
fn one_key_means_one_analysis() {
    use std::collections::HashMap;
    const TEMPLATES: &[&str] = &[
        "SELECT {} FROM t WHERE a = {}",
        "FETCH {} FROM c",
        "MOVE {} IN c",
        "SELECT * FROM t LIMIT {} OFFSET {}",
        "INSERT INTO t VALUES ({}, {})",
        "SELECT {} {}",
        "SELECT {}\n{}",
        "SELECT {}::numeric({}, 2)",
        "CREATE TABLE t (a varchar({}))",
        "SELECT pg_terminate_backend({})",
        "EXPLAIN (ANALYZE {}) DELETE FROM t",
        "COPY t TO {}",
        "SET work_mem = {}",
        "PREPARE TRANSACTION {}",
        "SELECT {}{}",
    ];
    const LITERALS: &[&str] = &[
        "0",
        "1",
        "42",
        "2147483647",
        "2147483648",
        "99999999999999999999",
        "1.5",
        ".5",
        "1e3",
        "0x10",
        "0xFFFFFFFFF",
        "1_000",
        "'a'",
        "''",
        "'it''s'",
        "'x'\n'y'",
        "$$d$$",
        "$t$a$$b$t$",
        "E'\\n'",
        "E'\\''",
        "B'101'",
        "X'1F'",
        "N'n'",
        "-1",
        "1.",
        "1e+5",
        "0b101",
        "0o17",
        "E'a'\n'b\\''",
        "'a'\n'b\\'",
        "U&'x'",
    ];
    let mut checked = 0;
    for template in TEMPLATES {
        let mut by_key: HashMap<Vec<u8>, (String, Analysis)> = HashMap::new();
        for x in LITERALS {
            for y in LITERALS {
                let sql = template.replacen("{}", x, 1).replacen("{}", y, 1);
                let Some(k) = key::normalize_key(&sql) else {
                    continue;
                };
                let got = analyze_uncached(&sql);
                match by_key.get(&k) {
                    Some((first, seen)) if !seen.literal_dependent => {
                        assert_eq!(&got, seen, "{sql:?} and {first:?} share a key");
                        checked += 1;
                    }
                    Some(_) => assert!(got.literal_dependent, "{sql:?}"),
                    None => {
                        by_key.insert(k, (sql, got));
                    }
                }
            }
        }
    }
    assert!(checked > 1000, "only {checked} texts shared a key");
}

proptest::proptest! {
    /// Token soup, mostly unparsable and sometimes not: analysis never panics, and the cached
    /// answer is the uncached one.
    #[test]
    fn token_soup_is_analyzed_consistently(tokens in proptest::collection::vec(
        proptest::sample::select(vec![
            "SELECT", "FROM", "t", "s.t", "WHERE", "a", "=", "1", "'x'", "(", ")", ",", ";",
            "FOR", "UPDATE", "WITH", "c", "AS", "INSERT", "INTO", "VALUES", "SET", "BEGIN",
            "f(1)", "pg_terminate_backend(5)", "EXPLAIN", "ANALYZE", "COPY", "TO", "STDOUT",
            "LOCK", "PREPARE", "p", "DEALLOCATE", "SHOW", "*", "/* c */", "--c\n", "$$d$$",
        ]),
        0..12,
    )) {
        let sql = tokens.join(" ");
        let cached = analyze(&sql);
        proptest::prop_assert_eq!(&*cached, &analyze_uncached(&sql));
    }
}

#[test]
fn highest_parameter_counts_like_postgresql() {
    assert_eq!(super::highest_parameter("SELECT 1"), 0);
    assert_eq!(super::highest_parameter("SELECT $1::int + $1"), 1);
    assert_eq!(
        super::highest_parameter("SELECT $3, '$7', \"$9\", $$ $8 $$ -- $6"),
        3
    );
    assert_eq!(super::highest_parameter("SELECT $2 /* $5 */ + $10"), 10);
}
